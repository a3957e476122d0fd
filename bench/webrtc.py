"""WebRTC call cost and added audio delay (results: bench/WEBRTC.md, docs/performance.md).

    python -m bench.webrtc [--calls 1,10,20] [--seconds 20] [--ws]

The proxy runs as its own process (`python -m proxy serve`, calls on 127.0.0.1, uvloop as
configured), so its CPU time (`/proc/PID/stat`) is its alone. This process plays both ends:

- a fake Inworld (aiohttp WebSocket) that answers the session and, once the session's first
  append shows media is flowing, streams a 20 ms `response.output_audio.delta` every 20 ms in
  real time (silence with a marker click every 500 ms; streamed in real time, nothing queues up
  in the proxy's playout buffer, so the delay measured is the proxy's own), and timestamps the
  marker in each `input_audio_buffer.append`;
- N aiortc calls (OpenAI's browser flow, tests/support/webrtc.py) whose microphone plays
  silence with a click every 500 ms and whose speaker timestamps the clicks it hears.

Per run: the proxy's CPU per live call (decode, resample, Opus encode, SRTP, data channel,
translation: everything), calls per core at real time (1 / CPU per call), and the added delay
each way, p50/p99: **up** from the client's microphone frame carrying a click to the append
carrying it arriving upstream (Opus encode in the client, loopback UDP, the proxy's jitter
buffer, decode, resampling, the append batch); **down** from the delta carrying a click
leaving upstream to the client hearing it (the proxy's decode and 20 ms frame pacing, Opus
encode, loopback UDP, the client's decode). Clocks are one machine's monotonic clock. The
measuring client decodes each packet as it arrives (the proxy's own `short_jitter_buffer`):
aiortc's default holds 4 packets (80 ms) and a browser's adapts to the network, and neither
wait is the proxy's. `--ws` runs the same load as
WebSocket sessions for comparison (CPU only: the relay forwards audio without decoding it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import statistics
import struct
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

__all__ = ["main"]

RATE, FRAME = 24000, 480  # PCM16 24 kHz, 20 ms
MARK_EVERY = 25  # frames: a click every 500 ms
CLICK = struct.pack(
    f"<{FRAME}h", *(int(16000 * math.sin(2 * math.pi * 1000 * i / RATE)) for i in range(FRAME))
)
SILENCE = bytes(FRAME * 2)
LOUD = 4000  # a click's peak survives Opus and resampling; silence stays far below


def peak(pcm: bytes) -> int:
    samples = memoryview(pcm[: len(pcm) // 2 * 2]).cast("h")
    return max(map(abs, samples), default=0)


class FakeInworld:
    """Answers the proxy's session, streams marked audio in real time, times marked appends."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}  # marker index -> send time (same for all sessions)
        self.up: list[float] = []  # per marked append: arrival - the client's click time
        self.clicks: list[float] = []  # client click times, set by the clients
        self.sockets: set[web.WebSocketResponse] = set()
        self.frames = 0
        self.silence = True  # stream silence between the clicks (cost) or not (delay)

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        pcm = {"format": {"type": "audio/pcm", "rate": RATE}}
        session = {"audio": {"input": pcm, "output": pcm}}
        await ws.send_str(orjson.dumps({"type": "session.created", "session": session}).decode())
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = msg.data
                if data.startswith('{"type":"input_audio_buffer.append"'):
                    self.sockets.add(ws)  # media flows: stream to it from now on (no backlog)
                    if peak(base64.b64decode(orjson.loads(data)["audio"])) > LOUD:
                        self.up.append(time.monotonic())
                elif '"session.update"' in data:
                    reply = {"type": "session.updated", "session": session}
                    await ws.send_str(orjson.dumps(reply).decode())
        finally:
            self.sockets.discard(ws)
        return ws

    async def stream(self) -> None:
        """Every 20 ms, one delta to every session (a click every MARK_EVERY frames; with
        `self.silence` False only the clicks are sent)."""
        start = time.monotonic()
        while True:
            marked = self.frames % MARK_EVERY == 0
            if not marked and not self.silence:
                self.frames += 1
                await asyncio.sleep(max(0.0, start + self.frames * 0.02 - time.monotonic()))
                continue
            pcm = CLICK if marked else SILENCE
            delta = {"type": "response.output_audio.delta", "response_id": "resp_1",
                     "item_id": "item_1", "delta": base64.b64encode(pcm).decode()}  # fmt: skip
            text = orjson.dumps(delta).decode()
            if marked:
                self.sent[self.frames // MARK_EVERY] = time.monotonic()
            for ws in list(self.sockets):
                if not ws.closed:
                    await ws.send_str(text)
            self.frames += 1
            await asyncio.sleep(max(0.0, start + self.frames * 0.02 - time.monotonic()))


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantiles(values: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds (p99 is the max below 100 samples)."""
    if not values:
        return math.nan, math.nan
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def start_proxy(upstream: str, folder: Path) -> Any:
    config = folder / "proxy.toml"
    config.write_text(
        f'[upstream]\nurl = "{upstream}"\n[webrtc]\nhost_addresses = ["127.0.0.1"]\n'
        "[limits]\nidle_timeout = 0.0\nshutdown_grace = 1.0\n"
    )
    env = {**os.environ, "INWORLD_API_KEY": "bench", "INWORLD_API_SECRET": "bench",
           "PROXY_LOG_LEVEL": "warning", "PROXY_PORT": "18080"}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "serve", "--config", str(config), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get("http://127.0.0.1:18080/readyz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("the proxy did not start")


async def webrtc_run(calls: int, seconds: float, fake: FakeInworld) -> dict[str, Any]:
    from proxy.webrtc.jitter import short_jitter_buffer
    from tests.support.webrtc import rtc_call

    heard: list[float] = []
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(calls):
            client = await stack.enter_async_context(
                rtc_call("http://127.0.0.1:18080/v1/realtime/calls", session={"type": "realtime"})
            )
            for receiver in client.pc.getReceivers():  # the measuring client's own wait out
                short_jitter_buffer(receiver)
            clients.append(client)
        await asyncio.sleep(2.0)  # warm-up: caches, first frames

        async def mic(client: Any) -> None:
            while True:
                await asyncio.sleep(0.5)
                client.mic.say(CLICK)

        pumps = [asyncio.get_running_loop().create_task(mic(c)) for c in clients]
        fake.silence = True  # cost: audio both ways all the time
        cpu0, t0 = proc_cpu(PROXY_PID[0]), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, elapsed = proc_cpu(PROXY_PID[0]) - cpu0, time.monotonic() - t0
        fake.silence = False  # delay: only the clicks, so nothing queues before them
        await asyncio.sleep(0.5)
        for client in clients:
            client.heard.clear()
            client.mic.started.clear()
        fake.up.clear()
        start_marker = fake.frames // MARK_EVERY + 1
        await asyncio.sleep(seconds)
        for pump in pumps:
            pump.cancel()
        clicks: list[float] = []
        for client in clients:
            heard.extend(t for t, p in client.heard if p > LOUD)
            clicks.extend(client.mic.started)
    down = match(sorted(fake.sent[m] for m in fake.sent if m >= start_marker), sorted(heard))
    up = match(sorted(clicks), sorted(fake.up))
    return {"calls": calls, "cpu_per_call": cpu / elapsed / calls, "up": up, "down": down}


def match(sent: list[float], got: list[float]) -> list[float]:
    """Each arrival paired with the latest send before it (markers are 500 ms apart, delays
    are far below that); arrivals with no send in the last 400 ms are dropped."""
    delays, i = [], 0
    for at in got:
        while i + 1 < len(sent) and sent[i + 1] <= at:
            i += 1
        if sent and sent[i] <= at and at - sent[i] < 0.4:
            delays.append(at - sent[i])
    return delays


async def ws_run(sessions: int, seconds: float) -> dict[str, Any]:
    audio = base64.b64encode(SILENCE).decode()
    frame = orjson.dumps({"type": "input_audio_buffer.append", "audio": audio}).decode()
    async with aiohttp.ClientSession() as http:
        sockets = [
            await http.ws_connect("ws://127.0.0.1:18080/v1/realtime?model=gpt-realtime")
            for _ in range(sessions)
        ]

        async def drain(ws: Any) -> None:
            async for _ in ws:
                pass

        async def send(ws: Any) -> None:
            start, n = time.monotonic(), 0
            while True:
                await ws.send_str(frame)
                n += 1
                await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(drain(ws)) for ws in sockets] + [
            loop.create_task(send(ws)) for ws in sockets
        ]
        await asyncio.sleep(2.0)
        cpu0, t0 = proc_cpu(PROXY_PID[0]), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, elapsed = proc_cpu(PROXY_PID[0]) - cpu0, time.monotonic() - t0
        for task in tasks:
            task.cancel()
        for ws in sockets:
            await ws.close()
    return {"calls": sessions, "cpu_per_call": cpu / elapsed / sessions}


PROXY_PID: list[int] = [0]
HEADER = (
    "| transport | live calls | proxy CPU per call | calls per core | up p50 / p99 | "
    "down p50 / p99 |\n|---|---|---|---|---|---|"
)


def webrtc_row(count: int, r: dict[str, Any]) -> str:
    """One Markdown table row of a WebRTC run."""
    (up50, up99), (down50, down99) = quantiles(r["up"]), quantiles(r["down"])
    return (
        f"| webrtc | {count} | {r['cpu_per_call'] * 100:.2f} % | {1 / r['cpu_per_call']:.0f} | "
        f"{up50:.0f} / {up99:.0f} ms (n={len(r['up'])}) | "
        f"{down50:.0f} / {down99:.0f} ms (n={len(r['down'])}) |"
    )


async def run(args: argparse.Namespace) -> None:
    fake = FakeInworld()
    app = web.Application()
    app.router.add_get("/api/v1/realtime/session", fake.handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 18090).start()
    streamer = asyncio.get_running_loop().create_task(fake.stream())
    with tempfile.TemporaryDirectory() as folder:
        proxy = await start_proxy("ws://127.0.0.1:18090/api/v1/realtime/session", Path(folder))
        PROXY_PID[0] = proxy.pid
        try:
            print(HEADER)
            for count in (int(c) for c in args.calls.split(",")):
                if args.ws:
                    r = await ws_run(count, args.seconds)
                    print(f"| websocket | {count} | {r['cpu_per_call'] * 100:.2f} % | "
                          f"{1 / r['cpu_per_call']:.0f} | - | - |", flush=True)  # fmt: skip
                r = await webrtc_run(count, args.seconds, fake)
                print(webrtc_row(count, r), flush=True)
        finally:
            proxy.terminate()
            await proxy.wait()
            streamer.cancel()
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1,10,20", help="comma-separated live call counts")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run")
    parser.add_argument("--ws", action="store_true", help="also run WebSocket sessions")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

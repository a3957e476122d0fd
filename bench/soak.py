"""Soak: the proxy's file descriptors, asyncio tasks and RSS must stay flat under churn and load.

    python bench/soak.py            # 2 rounds of: 3000 cycles, then 100 sessions for 60 s
    python bench/soak.py --cycles 30 --sessions 3 --seconds 3   # smoke (a few seconds)

Three processes on loopback: the Inworld emulator (`python -m proxy emulator`), the proxy (the
real application from `proxy.web.app.create_app`, plus one extra route, `/_soak/stats`, reporting
its own open fds, asyncio tasks and RSS), and this script as the clients.

A warm-up (a few sessions, so lazy imports and caches are in the baseline), then `--rounds`
rounds of two phases, each followed by a measurement of the proxy once its sessions have ended:
1. churn: `--cycles` connect / `session.created` / close cycles, `--parallel` at a time;
2. audio: `--sessions` concurrent sessions for `--seconds`, each streaming 20 ms PCM16 24 kHz
   frames at real-time pace (1.5 s of tone, 1.5 s of silence, so the emulator's VAD answers
   with spoken responses that flow back through the proxy).

Measurements are taken after `gc.collect()` and glibc `malloc_trim(0)`, so RSS is live memory
rather than freed pages the allocator kept. Exit status 1 if fds or tasks after any phase
differ from the baseline, or RSS grew more than `--rss-slack-mib` from the end of round 1 to
the end of the last round (round 1 may raise it once: Python keeps what a load's peak needed).
The table is printed either way. Not run in CI (a smoke test runs it tiny).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import gc
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proxy.emulator import pcm16_silence, pcm16_tone  # noqa: E402

KEY, SECRET = "soak-key", "soak-secret"
FRAME_MS = 20


# -- the proxy process (child) ------------------------------------------------------------------


def _stats() -> dict[str, int]:
    """The proxy's fds, tasks, RSS (after gc and glibc `malloc_trim`), objects, Python heap."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap pages back: RSS = live memory
    rss_kib = 0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": len(asyncio.all_tasks()),
        "rss_kib": rss_kib,
        "objects": len(gc.get_objects()),
        "traced_kib": tracemalloc.get_traced_memory()[0] // 1024,
    }


async def _serve_proxy(upstream: str) -> None:
    import signal

    if os.environ.get("SOAK_TRACEMALLOC"):
        tracemalloc.start()

    import structlog
    from aiohttp import web
    from prometheus_client import CollectorRegistry

    from proxy.config import load
    from proxy.web.app import create_app
    from proxy.web.logs import configure_logging

    env = {"INWORLD_API_KEY": KEY, "INWORLD_API_SECRET": SECRET, "INWORLD_REALTIME_URL": upstream}
    cfg = load(None, {**env, "PROXY_LOG_LEVEL": "warning", "PROXY_LOG_FORMAT": "json"})
    configure_logging(cfg.logging)
    app = create_app(cfg, registry=CollectorRegistry(), logger=structlog.get_logger("proxy"))

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(_stats())

    app.router.add_get("/_soak/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


# -- the clients (this process) -----------------------------------------------------------------


_DRAINS: set[asyncio.Task[None]] = set()  # keep the stdout readers referenced


async def _drain(stream: asyncio.StreamReader) -> None:
    """Read and discard a child's stdout: a full pipe would block its logging (and it)."""
    while await stream.read(65536):
        pass


async def _spawn(*args: str, env: dict[str, str]) -> tuple[Any, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with asyncio.timeout(30):
        while line := await process.stdout.readline():
            text = line.decode()
            found = None
            if text.startswith("PORT "):
                found = text.split()[1]
            elif '"emulator_listening"' in text:
                found = orjson.loads(line)["url"]
            if found is not None:
                drain = asyncio.get_running_loop().create_task(_drain(process.stdout))
                _DRAINS.add(drain)
                drain.add_done_callback(_DRAINS.discard)
                return process, found
    raise RuntimeError(f"{args} did not start")


async def _session_created(ws: aiohttp.ClientWebSocketResponse) -> None:
    async with asyncio.timeout(30):
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"session ended early: {msg}")
            if orjson.loads(msg.data)["type"] == "session.created":
                return


async def _cycle(http: aiohttp.ClientSession, url: str) -> None:
    async with http.ws_connect(url) as ws:
        await _session_created(ws)


async def churn(http: aiohttp.ClientSession, url: str, cycles: int, parallel: int) -> None:
    """`cycles` connect/session.created/close cycles, `parallel` at a time."""
    queue = iter(range(cycles))

    async def worker() -> None:
        for _ in queue:
            await _cycle(http, url)

    async with asyncio.TaskGroup() as tg:
        for _ in range(parallel):
            tg.create_task(worker())


def _appends() -> list[str]:
    """One 3 s cycle of append frames: 1.5 s tone, 1.5 s silence, 20 ms each."""
    frames = []
    for i in range(150):
        pcm = pcm16_tone(FRAME_MS, offset_ms=i * FRAME_MS) if i < 75 else pcm16_silence(FRAME_MS)
        audio = base64.b64encode(pcm).decode()
        frames.append(orjson.dumps({"type": "input_audio_buffer.append", "audio": audio}).decode())
    return frames


async def audio_session(
    http: aiohttp.ClientSession, url: str, seconds: float, frames: list[str], counts: dict[str, int]
) -> None:
    """Stream frames at real-time pace for `seconds`, reading everything the proxy sends."""
    async with http.ws_connect(url) as ws:
        await _session_created(ws)

        async def read() -> None:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    counts["down"] += 1
                    if '"response.done"' in msg.data[:120]:
                        counts["responses"] += 1

        async with asyncio.TaskGroup() as tg:
            reader = tg.create_task(read())
            loop = asyncio.get_running_loop()
            start = loop.time()
            n = 0
            while loop.time() - start < seconds:
                await ws.send_str(frames[n % len(frames)])
                counts["up"] += 1
                n += 1
                await asyncio.sleep(max(0.0, start + n * FRAME_MS / 1000 - loop.time()))
            await ws.close()
            reader.cancel()


async def _stats_of(http: aiohttp.ClientSession, base: str) -> dict[str, int]:
    async with http.get(f"{base}/_soak/stats") as response:
        stats: dict[str, int] = await response.json()
    return stats


async def settled(http: aiohttp.ClientSession, base: str, want: dict[str, int]) -> dict[str, int]:
    """Stats once fds and tasks are back to `want` (closing sockets takes a few loop turns)."""
    stats = await _stats_of(http, base)
    for _ in range(50):
        if stats["fds"] <= want["fds"] and stats["tasks"] <= want["tasks"]:
            break
        await asyncio.sleep(0.1)
        stats = await _stats_of(http, base)
    return stats


async def run(args: argparse.Namespace) -> int:
    creds = {"INWORLD_API_KEY": KEY, "INWORLD_API_SECRET": SECRET, "PROXY_LOG_FORMAT": "json"}
    emulator, upstream = await _spawn("-m", "proxy", "emulator", "--port", "0", env=creds)
    trace = {"SOAK_TRACEMALLOC": "1"} if args.tracemalloc else {}
    proxy, port = await _spawn(__file__, "--serve-proxy", upstream, env=trace)
    base, url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/v1/realtime"
    rows: list[tuple[str, dict[str, int], str]] = []
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            before = await _stats_of(http, base)
            await churn(http, url, 20, 5)  # warm-up
            baseline = await settled(http, base, before)  # the warm-up's closes are done
            rows.append(("baseline (after warm-up)", baseline, ""))

            for round_no in range(1, args.rounds + 1):
                tag = f"round {round_no}: " if args.rounds > 1 else ""
                started = time.monotonic()
                await churn(http, url, args.cycles, args.parallel)
                took = time.monotonic() - started
                after = await settled(http, base, baseline)
                note = f"{took:.1f} s, {args.cycles / took:.0f} cycles/s"
                rows.append((f"{tag}after {args.cycles} connect/disconnect cycles", after, note))
                if not args.sessions:
                    continue
                counts = {"up": 0, "down": 0, "responses": 0}
                frames = _appends()
                started = time.monotonic()
                async with asyncio.TaskGroup() as tg:
                    for _ in range(args.sessions):
                        tg.create_task(audio_session(http, url, args.seconds, frames, counts))
                    peak: dict[str, int] = {}
                    while time.monotonic() - started < args.seconds - 1:
                        await asyncio.sleep(min(5.0, max(0.1, args.seconds / 4)))
                        now = await _stats_of(http, base)
                        peak = {k: max(v, peak.get(k, 0)) for k, v in now.items()}
                took = time.monotonic() - started
                rows.append((f"{tag}peak during {args.sessions} audio sessions", peak, ""))
                rows.append(
                    (f"{tag}after {args.sessions} sessions x {args.seconds:g} s of audio",
                     await settled(http, base, baseline),
                     f"{counts['up']} frames up, {counts['down']} down, "
                     f"{counts['responses']} responses, {took:.1f} s")
                )  # fmt: skip
                if counts["up"] == 0 or (counts["responses"] == 0 and args.seconds >= 4):
                    rows.append((f"{tag}no audio went through", {}, "FAIL"))
    finally:
        for process in (proxy, emulator):
            process.terminate()
            await process.wait()

    print(
        f"{'phase':<46} {'fds':>5} {'tasks':>6} {'RSS MiB':>8} {'objects':>8} {'py MiB':>7}  notes"
    )
    for name, stats, note in rows:
        rss = stats.get("rss_kib", 0) / 1024
        print(
            f"{name:<46} {stats.get('fds', 0):>5} {stats.get('tasks', 0):>6} {rss:>8.1f} "
            f"{stats.get('objects', 0):>8} {stats.get('traced_kib', 0) / 1024:>7.2f}  {note}"
        )
    failures = [name for name, _, note in rows if note == "FAIL"]
    afters = [(name, stats) for name, stats, _ in rows[1:] if "after" in name]
    for name, stats in afters:
        if stats["fds"] != baseline["fds"] or stats["tasks"] != baseline["tasks"]:
            failures.append(f"{name}: fds/tasks not back to the baseline")
    # RSS: Python keeps the memory of a load's peak, so the first round may raise it once;
    # a leak shows as growth from round to round.
    first = afters[len(afters) // args.rounds - 1][1] if args.rounds > 1 else baseline
    growth = (afters[-1][1]["rss_kib"] - first["rss_kib"]) / 1024
    if growth > args.rss_slack_mib:
        failures.append(f"RSS grew {growth:.1f} MiB (> {args.rss_slack_mib} MiB)")
    print("FLAT" if not failures else "NOT FLAT: " + "; ".join(failures))
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=3000)
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=2, help="repeat churn + audio")
    parser.add_argument("--rss-slack-mib", type=float, default=4.0)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also report Python heap (slower)"
    )
    parser.add_argument("--serve-proxy", metavar="UPSTREAM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_proxy:
        asyncio.run(_serve_proxy(args.serve_proxy))
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

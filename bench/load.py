"""The load generator: N WebSocket sessions streaming 20 ms PCM16 24 kHz audio appends.

One process, raw aiohttp client sockets, no JSON work: each session sends the same
pre-built append frame (20 ms = 480 samples = 960 bytes = 1280 base64 characters) and times
each echoed `response.output_audio.delta` against the send time of the frame it answers (the
echo keeps order, so a FIFO of send times per session is enough). A delta is recognised by its
type in its first bytes, however the middle spaced its JSON (LiteLLM re-serialises it).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections import deque
from dataclasses import dataclass, field

import aiohttp
from aiohttp import WSMsgType

__all__ = ["FRAME_BYTES", "Sessions", "StreamStats", "append_frame", "round_trip_all", "stream"]

SAMPLE_RATE = 24_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 480
FRAME_BYTES = FRAME_SAMPLES * 2  # PCM16 mono: 960
_DELTA = b'"response.output_audio.delta"'


def append_frame(pcm: bytes | None = None) -> bytes:
    """One `input_audio_buffer.append` frame carrying 20 ms of PCM16 audio (base64)."""
    audio = base64.b64encode(pcm if pcm is not None else os.urandom(FRAME_BYTES))
    return b'{"type":"input_audio_buffer.append","audio":"' + audio + b'"}'


@dataclass
class StreamStats:
    """What one streaming run measured on the client side."""

    rtts: list[float] = field(default_factory=list)  # seconds, after the warm-up
    round_trips: int = 0  # echoes received, warm-up included
    sent: int = 0
    elapsed: float = 0.0  # first send to last echo
    bad: int = 0  # frames that were not the expected echo


class Sessions:
    """Open client sockets to one endpoint; each has received its `session.created`.

    `headers`: sent with each handshake (a gateway's key)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.sockets: list[aiohttp.ClientWebSocketResponse[bool]] = []
        self._http: aiohttp.ClientSession | None = None

    async def open(self, count: int, *, concurrency: int = 64) -> None:
        """Open `count` more sessions (at most `concurrency` handshakes at a time)."""
        if self._http is None:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        http = self._http
        gate = asyncio.Semaphore(concurrency)

        async def one() -> aiohttp.ClientWebSocketResponse[bool]:
            async with gate:
                ws = await http.ws_connect(
                    self.url,
                    compress=0,
                    max_msg_size=16 * 1024 * 1024,
                    decode_text=False,
                    headers=self.headers,
                )
                first = await ws.receive()
                if first.type is not WSMsgType.TEXT or b"session.created" not in first.data:
                    raise RuntimeError(f"expected session.created first, got {first!r:.200}")
                return ws

        async with asyncio.timeout(60 + count / 10):
            self.sockets += await asyncio.gather(*(one() for _ in range(count)))

    async def close(self) -> None:
        """Close every session and the HTTP client."""
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        self.sockets.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None


async def stream(
    sockets: list[aiohttp.ClientWebSocketResponse[bool]],
    *,
    seconds: float,
    warmup: float = 1.0,
    interval: float | None = 0.020,
    window: int = 4,
    frame: bytes | None = None,
) -> StreamStats:
    """Stream appends on every socket for `seconds` and time the echoes.

    Args:
        interval: seconds between a session's frames (real time: 0.020), staggered across
            sessions; None for maximum throughput, `window` frames in flight per session.
        warmup: round trips of frames sent in the first `warmup` seconds are not timed.
    """
    frame = frame or append_frame()
    stats = StreamStats()
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    stop = start + seconds
    measure_from = time.perf_counter() + 0.05 + warmup
    count = len(sockets)
    send_frame = frame  # bound once: the sender loops are the client's hot path

    async def session(index: int, ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
        sent: deque[float] = deque()
        finished = asyncio.Event()
        credit = asyncio.Semaphore(window)
        state = {"done_sending": False}

        async def receiver() -> None:
            rtts = stats.rtts
            while True:
                msg = await ws.receive()
                now = time.perf_counter()
                if msg.type is not WSMsgType.TEXT:
                    raise RuntimeError(f"session {index} ended early: {msg.type!r}")
                if _DELTA not in msg.data[:64] or not sent:
                    stats.bad += 1
                    continue
                t0 = sent.popleft()
                stats.round_trips += 1
                if t0 >= measure_from:
                    rtts.append(now - t0)
                if interval is None:
                    credit.release()
                if state["done_sending"] and not sent:
                    finished.set()
                    return

        async def sender() -> None:
            perf = time.perf_counter
            n = 0
            if interval is not None:
                due = start + interval * index / count
                while due < stop:
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    sent.append(perf())
                    await ws.send_frame(send_frame, WSMsgType.TEXT)
                    n += 1
                    due += interval
            else:
                await asyncio.sleep(max(0.0, start - loop.time()))
                while loop.time() < stop:
                    await credit.acquire()
                    sent.append(perf())
                    await ws.send_frame(send_frame, WSMsgType.TEXT)
                    n += 1
            stats.sent += n
            state["done_sending"] = True
            if not sent:
                finished.set()

        async with asyncio.TaskGroup() as tg:
            rx = tg.create_task(receiver())
            tg.create_task(sender())
            await finished.wait()
            rx.cancel()

    began = time.perf_counter()
    async with asyncio.timeout(seconds + 60), asyncio.TaskGroup() as tg:
        for i, ws in enumerate(sockets):
            tg.create_task(session(i, ws))
    stats.elapsed = time.perf_counter() - began
    return stats


async def round_trip_all(sockets: list[aiohttp.ClientWebSocketResponse[bool]]) -> int:
    """Send one append on every socket and wait for its echo; return how many came back."""
    frame = append_frame()

    async def one(ws: aiohttp.ClientWebSocketResponse[bool]) -> int:
        await ws.send_frame(frame, WSMsgType.TEXT)
        msg = await ws.receive()
        return int(msg.type is WSMsgType.TEXT and _DELTA in msg.data[:64])

    async with asyncio.timeout(60):
        return sum(await asyncio.gather(*(one(ws) for ws in sockets)))

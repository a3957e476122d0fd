"""One scripted conversation against one target, measured from the client's side.

The client speaks the GA OpenAI Realtime protocol over a plain WebSocket, as any client of the
proxy (or of OpenAI) does. It asks for PCM16 24 kHz audio both ways and server VAD (500 ms of
silence ends a turn), then plays the script (`proxy.cli.compare_script`):

- a spoken turn streams its audio in 100 ms chunks at real time, then 800 ms of silence; the
  end of the user's turn is the server's `input_audio_buffer.speech_stopped` (if the server
  heard no speech at all, the client commits and asks for a response itself);
- a text turn sends a user message and `response.create`: the end of the turn is that send;
- turn latency: end of the turn to the reply's first audio delta; first text: to its first
  transcript or text delta. These are the proxy's own definitions (docs/observability.md),
  timed where the client receives the events;
- with barge-in, the client speaks again (`barge_in_after_ms` after the reply's first audio
  delta) and measures, from the moment it started speaking, the reply's last audio delta
  (0 when none came after) and its `response.done`. The interruption is the user's next turn:
  its reply is measured as a turn too. A reply that ended before the client spoke is counted
  as `barge_ins_missed`.

Every `error` event counts as an error; a turn that takes longer than `timeout`, a refused
connection or a closed socket ends the run with one more.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from proxy.cli.compare_script import RATE, Plan, Turn
from proxy.cli.compare_stats import Samples

__all__ = ["Progress", "run_session"]

_AUDIO = frozenset({"response.output_audio.delta", "response.audio.delta"})
_TEXT = frozenset(
    {
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "response.audio_transcript.delta",
        "response.text.delta",
    }
)
_CHUNK_MS = 100
_TAIL_MS = 800
_NO_SPEECH_WAIT = 2.0  # seconds after a spoken turn without speech_started: commit ourselves
_SESSION = {
    "type": "realtime",
    "instructions": "You are a helpful voice assistant. Answer in one or two short sentences.",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": RATE},
            "turn_detection": {
                "type": "server_vad",
                "silence_duration_ms": 500,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": {"type": "audio/pcm", "rate": RATE}},
    },
}

Progress = Callable[[str, "float | None"], None]
"""Called after each turn with its name and turn latency in ms (None: not measured)."""


class _Ended(Exception):
    """The run cannot go on (`code` names why)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def run_session(
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    plan: Plan,
    progress: Progress,
) -> Samples:
    """Play `plan` once against `url` in a new session; never raises for the target's faults."""
    samples = Samples()
    try:
        async with asyncio.timeout(plan.timeout):
            ws = await http.ws_connect(url, headers=headers, max_msg_size=0)
    except (aiohttp.ClientError, OSError, TimeoutError):
        samples.error("connect_failed")
        return samples
    async with ws, asyncio.TaskGroup() as tasks:
        talk = _Conversation(ws, samples, plan, tasks)
        reader = tasks.create_task(talk.read())
        try:
            await talk.play(progress)
        except _Ended as end:
            samples.error(end.code)
        finally:
            reader.cancel()
            await talk.quiet()
    return samples


class _Conversation:
    """The events of one session, timed on arrival, and the script played against them."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        samples: Samples,
        plan: Plan,
        tasks: asyncio.TaskGroup,
    ) -> None:
        self._ws, self._samples, self._plan, self._tasks = ws, samples, plan, tasks
        self._inbox: asyncio.Queue[tuple[float, dict[str, Any] | None]] = asyncio.Queue()
        self._streams: list[asyncio.Task[None]] = []
        self._speech_stopped: float | None = None  # the last speech_stopped not yet used

    async def read(self) -> None:
        """Queue every event with its arrival time; None once the socket ends."""
        try:
            async for msg in self._ws:
                now = time.monotonic()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    try:
                        event = orjson.loads(msg.data)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(event, dict) and isinstance(event.get("type"), str):
                        self._inbox.put_nowait((now, event))
        finally:
            self._inbox.put_nowait((time.monotonic(), None))

    async def quiet(self) -> None:
        """Stop any audio still streaming."""
        for task in self._streams:
            task.cancel()

    async def play(self, progress: Progress) -> None:
        deadline = time.monotonic() + self._plan.timeout
        await self._until("session.created", deadline)
        await self._send({"type": "session.update", "session": _SESSION})
        await self._until("session.updated", deadline)
        for turn in self._plan.turns:
            await self._turn(turn, progress)

    # -- turns -----------------------------------------------------------------------------

    async def _turn(self, turn: Turn, progress: Progress) -> None:
        deadline = time.monotonic() + self._plan.timeout
        mark: float | None = None
        stream = None
        if turn.spoken:
            stream = self._stream(turn.pcm)
        else:
            content = [{"type": "input_text", "text": turn.text}]
            item = {"type": "message", "role": "user", "content": content}
            await self._send({"type": "conversation.item.create", "item": item})
            await self._send({"type": "response.create"})
            mark = time.monotonic()
        rid, mark = await self._created(mark, stream, deadline)
        latency, barged = await self._follow(rid, mark, deadline, self._plan.barge_in)
        progress(turn.name, latency)
        if barged is not None:  # the interruption is the user's next turn
            deadline = time.monotonic() + self._plan.timeout
            rid, mark = await self._created(None, barged, deadline)
            latency, _ = await self._follow(rid, mark, deadline, b"")
            progress(f"{turn.name} (barge-in)", latency)
            await barged
        if stream is not None:
            await stream

    async def _created(
        self, mark: float | None, stream: asyncio.Task[None] | None, deadline: float
    ) -> tuple[str, float]:
        """Wait for the reply's `response.created`; return its id and the end of the turn."""
        heard = False
        fallback: float | None = None
        if self._speech_stopped is not None and stream is not None:
            mark, self._speech_stopped = self._speech_stopped, None
        while True:
            got = await self._next(deadline if fallback is None else min(deadline, fallback))
            if got is None:
                if fallback is None or time.monotonic() >= deadline:
                    raise _Ended("timeout")
                fallback = None  # the server heard nothing: end the turn by hand
                await self._send({"type": "input_audio_buffer.commit"})
                await self._send({"type": "response.create"})
                mark = time.monotonic()
                continue
            at, event = got
            kind = event["type"]
            if kind == "_streamed" and stream is not None and event["task"] is stream:
                fallback = None if heard else at + _NO_SPEECH_WAIT
            elif kind == "input_audio_buffer.speech_started":
                heard, fallback = True, None
            elif kind == "input_audio_buffer.speech_stopped":
                mark = at
            elif kind == "response.created":
                response = event.get("response")
                rid = response.get("id") if isinstance(response, dict) else None
                return str(rid), at if mark is None else mark

    async def _follow(
        self, rid: str, mark: float, deadline: float, clip: bytes
    ) -> tuple[float | None, asyncio.Task[None] | None]:
        """Follow reply `rid` to its `response.done`, interrupting it with `clip` if any.
        Returns its turn latency (ms) and the interrupting stream, if the client spoke."""
        samples, after = self._samples, self._plan.barge_in_after_ms / 1000
        latency: float | None = None
        text_seen = False
        barge_at: float | None = None
        spoke: float | None = None  # when the client started to interrupt
        last_audio: float | None = None
        stream = None
        while True:
            got = await self._next(deadline if barge_at is None else min(deadline, barge_at))
            if got is None:
                if barge_at is None:
                    raise _Ended("timeout")
                barge_at, spoke = None, time.monotonic()
                stream = self._stream(clip)
                continue
            at, event = got
            kind = event["type"]
            mine = event.get("response_id") == rid
            if kind in _AUDIO and mine:
                if latency is None:
                    latency = (at - mark) * 1000
                    samples.turn_latency_ms.append(latency)
                    barge_at = at + after if clip else None
                if spoke is not None:
                    last_audio = at
            elif kind in _TEXT and mine and not text_seen:
                text_seen = True
                samples.first_text_ms.append((at - mark) * 1000)
            elif kind == "input_audio_buffer.speech_stopped" and spoke is not None:
                self._speech_stopped = at
            elif kind == "response.done" and _response_id(event) == rid:
                if spoke is not None:
                    talked = 0.0 if last_audio is None else last_audio - spoke
                    samples.barge_in_reaction_ms.append(max(0.0, talked) * 1000)
                    samples.barge_in_done_ms.append((at - spoke) * 1000)
                elif clip:
                    samples.barge_ins_missed += 1
                return latency, stream

    # -- I/O ------------------------------------------------------------------------------

    def _stream(self, pcm: bytes) -> asyncio.Task[None]:
        """Start streaming `pcm` and the silence after it, at real time."""
        task = self._tasks.create_task(self._send_audio(pcm))
        self._streams.append(task)
        return task

    async def _send_audio(self, pcm: bytes) -> None:
        chunk = RATE * 2 * _CHUNK_MS // 1000
        data = pcm + bytes(RATE * 2 * _TAIL_MS // 1000)
        start = time.monotonic()
        try:
            for n, at in enumerate(range(0, len(data), chunk)):
                delay = start + n * _CHUNK_MS / 1000 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                audio = base64.b64encode(data[at : at + chunk]).decode()
                await self._send({"type": "input_audio_buffer.append", "audio": audio})
        except _Ended:
            return  # the socket is gone: the reader reports it
        task = asyncio.current_task()
        self._inbox.put_nowait((time.monotonic(), {"type": "_streamed", "task": task}))

    async def _send(self, event: dict[str, Any]) -> None:
        try:
            await self._ws.send_str(orjson.dumps(event).decode())
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            raise _Ended("closed") from None

    async def _until(self, kind: str, deadline: float) -> None:
        while True:
            got = await self._next(deadline)
            if got is None:
                raise _Ended("timeout")
            if got[1]["type"] == kind:
                return

    async def _next(self, until: float) -> tuple[float, dict[str, Any]] | None:
        """The next event (errors, audio and tokens counted on the way); None at `until`."""
        try:
            async with asyncio.timeout(max(0.0, until - time.monotonic())):
                at, event = await self._inbox.get()
        except TimeoutError:
            return None
        if event is None:
            self._inbox.put_nowait((at, None))
            raise _Ended("closed")
        samples, kind = self._samples, event["type"]
        if kind in _AUDIO and isinstance(delta := event.get("delta"), str):
            samples.audio_seconds_out += _decoded(delta) / (2 * RATE)
        elif kind == "error":
            error = event.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            samples.error(code if isinstance(code, str) and code else "error")
        elif kind == "response.done":
            response = event.get("response")
            usage = response.get("usage") if isinstance(response, dict) else None
            total = usage.get("total_tokens") if isinstance(usage, dict) else None
            if isinstance(total, int):
                samples.tokens += total
        return at, event


def _response_id(event: dict[str, Any]) -> str | None:
    response = event.get("response")
    rid = response.get("id") if isinstance(response, dict) else None
    return rid if isinstance(rid, str) else None


def _decoded(b64: str) -> int:
    """Bytes a base64 string decodes to."""
    return len(b64) * 3 // 4 - b64[-2:].count("=")

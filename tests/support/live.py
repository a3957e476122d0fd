"""OpenAI Live test helpers: every server event checked against the openai SDK's own types.

`validated` is the schema check the Live tests run on each event the proxy sends: the SDK's
`ServerEvent` union (openai/types/live/server_event.py) through a pydantic `TypeAdapter` (the
SDK itself only *constructs* events, without validating), and, for `response.event`, the nested
Responses streaming event through `ResponseStreamEvent`.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import orjson
from openai.types.live.server_event import ServerEvent
from openai.types.responses.response_stream_event import ResponseStreamEvent
from pydantic import TypeAdapter

from proxy.emulator import pcm16_silence, pcm16_tone

LIVE_EVENTS: TypeAdapter[Any] = TypeAdapter(ServerEvent)
RESPONSES_EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
TIMEOUT = 15
CHUNK = 4800  # bytes of 100 ms of PCM16 24 kHz

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def validated(data: bytes | str | dict[str, Any]) -> Any:
    """The event as the SDK's Live model; raises pydantic's ValidationError if it is not one."""
    raw = data if isinstance(data, dict) else orjson.loads(data)
    event = LIVE_EVENTS.validate_python(raw)
    if raw["type"] == "response.event":
        RESPONSES_EVENTS.validate_python(raw["event"])
    return event


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


def speech(tone_ms: int = 600, silence_ms: int = 800) -> list[str]:
    """Base64 appends of 100 ms: a loud tone (the emulator hears speech), then silence."""
    tone = [b64(pcm16_tone(100, offset_ms=i * 100)) for i in range(tone_ms // 100)]
    return tone + [b64(pcm16_silence(100))] * (silence_ms // 100)


class Received:
    """Validated events from a Live connection (`recv`: an async callable giving bytes), with
    the loop time each arrived."""

    def __init__(self, recv: Callable[[], Any]) -> None:
        self._recv = recv
        self.events: list[Any] = []
        self.times: list[float] = []

    async def until(self, done: Callable[[Any], bool]) -> list[Any]:
        """Receive until `done(event)` (at most `TIMEOUT` s); returns the events received by
        this call."""
        start = len(self.events)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(TIMEOUT):
            while True:
                event = validated(await self._recv())
                self.events.append(event)
                self.times.append(loop.time())
                if done(event):
                    return self.events[start:]

    async def until_type(self, kind: str) -> Any:
        """Receive until an event of type `kind`; returns it."""
        return (await self.until(lambda e: e.type == kind))[-1]

    def of(self, kind: str, events: list[Any] | None = None) -> list[Any]:
        return [e for e in (self.events if events is None else events) if e.type == kind]

    def text(self, kind: str) -> str:
        """The joined `delta`s of transcript events of `kind`."""
        return "".join(e.delta for e in self.of(kind))

    def audio(self, events: list[Any] | None = None) -> bytes:
        return b"".join(
            base64.b64decode(e.delta) for e in self.of("session.output_audio.delta", events)
        )

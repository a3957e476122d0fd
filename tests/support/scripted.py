"""Scripted client sessions against a proxy (plain aiohttp client), for metrics and log tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from yarl import URL

from proxy.emulator import pcm16_silence, pcm16_tone
from proxy.web.appkeys import METRICS

TIMEOUT = 10
SERVER_VAD = {
    "type": "realtime",
    "audio": {
        "input": {
            "transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 200},
        },
        "output": {"voice": "marin"},
    },
}


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


class Client:
    """An OpenAI-Realtime-speaking test client; keeps every event it received."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, **event: Any) -> None:
        await self.ws.send_str(orjson.dumps(event).decode())

    async def until(self, kind: str) -> list[dict[str, Any]]:
        """Receive events up to and including the next one of type `kind`."""
        got: list[dict[str, Any]] = []
        async with asyncio.timeout(TIMEOUT):
            while True:
                msg = await self.ws.receive()
                assert msg.type is aiohttp.WSMsgType.TEXT, msg
                event = orjson.loads(msg.data)
                got.append(event)
                self.events.append(event)
                if event["type"] == kind:
                    return got

    async def spoken_turn(self) -> list[dict[str, Any]]:
        """Server-VAD turn: 300 ms of tone, 300 ms of silence; returns events to response.done."""
        await self.send(type="input_audio_buffer.append", audio=b64(pcm16_tone(300)))
        await self.send(type="input_audio_buffer.append", audio=b64(pcm16_silence(300)))
        return await self.until("response.done")


@contextlib.asynccontextmanager
async def session(url: URL | str, **kwargs: Any) -> AsyncIterator[Client]:
    """Connect to the proxy, wait for session.created, yield the client; close on exit."""
    async with aiohttp.ClientSession() as http, http.ws_connect(url, **kwargs) as ws:
        client = Client(ws)
        await client.until("session.created")
        yield client


class EndedSessions:
    """Counts sessions the proxy has fully accounted for (metrics folded, end line logged).

    Wraps `Metrics.session_ended` of a running proxy app, so tests wait on an event instead
    of polling.
    """

    def __init__(self, app: web.Application) -> None:
        self.count = 0
        self._changed = asyncio.Event()
        metrics = app[METRICS]
        original = metrics.session_ended

        def session_ended(*args: Any, **kwargs: Any) -> None:
            original(*args, **kwargs)
            self.count += 1
            self._changed.set()

        metrics.session_ended = session_ended  # type: ignore[method-assign]

    async def wait(self, count: int = 1) -> None:
        """Wait until `count` sessions have ended (fails after TIMEOUT)."""
        async with asyncio.timeout(TIMEOUT):
            while self.count < count:
                self._changed.clear()
                await self._changed.wait()

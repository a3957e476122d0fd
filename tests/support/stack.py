"""The test stack: credentials, a proxy config, a scriptable fake Inworld, emulator + proxy."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from proxy.config import Config
from proxy.emulator import (
    EMULATOR_SESSIONS,
    EmulatorConnection,
)
from tests.support.core import config

KEY, SECRET = "test-key", "test-secret"

CREDENTIAL = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()


StartProxy = Callable[..., Awaitable[TestServer]]


def proxy_config(upstream_url: str, **rules: Any) -> Config:
    """Default config pointed at `upstream_url` with the test credentials."""
    cfg = config({"INWORLD_API_KEY": KEY, "INWORLD_API_SECRET": SECRET})
    cfg = dataclasses.replace(cfg, upstream=dataclasses.replace(cfg.upstream, url=upstream_url))
    if rules:
        cfg = dataclasses.replace(cfg, rules=dataclasses.replace(cfg.rules, **rules))
    return cfg


@dataclasses.dataclass
class FakeUpstream:
    """A scriptable stand-in for Inworld, for relay behaviour the emulator does not model."""

    status: int | None = None  # answer the upgrade with this HTTP status instead
    close_after: tuple[int, str] | None = None  # close with (code, reason) after first frame
    requests: list[web.Request] = dataclasses.field(default_factory=list)
    received: list[str] = dataclasses.field(default_factory=list)
    closes: list[int | None] = dataclasses.field(default_factory=list)
    got_frame: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    closed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if self.status is not None:
            return web.json_response({"error": "refused"}, status=self.status)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"type":"session.created","event_id":"x","session":{}}')
        first = True
        async for msg in ws:
            self.received.append(msg.data)
            self.got_frame.set()
            if first:  # the proxy's initial session.update: acknowledge it
                first = False
                await ws.send_str('{"type":"session.updated","event_id":"y","session":{}}')
            if self.close_after is not None:
                code, reason = self.close_after
                await ws.close(code=code, message=reason.encode())
        self.closes.append(ws.close_code)
        self.closed.set()
        return ws


@dataclasses.dataclass
class Stack:
    """The emulator and a proxy in front of it, both on loopback."""

    emulator: TestServer
    proxy: TestServer
    registry: CollectorRegistry

    @property
    def sessions(self) -> dict[str, EmulatorConnection]:
        """The emulator's per-session records (keyed by Inworld session key)."""
        return self.emulator.app[EMULATOR_SESSIONS]

    def only_session(self) -> EmulatorConnection:
        """The single emulator session a test opened."""
        [record] = self.sessions.values()
        return record

    def proxy_ws_base(self) -> str:
        """The `websocket_base_url` an OpenAI SDK client uses for the proxy."""
        return str(self.proxy.make_url("/v1")).replace("http", "ws", 1)

    def emulator_ws_base(self) -> str:
        """The same, pointed straight at the emulator (which must refuse an OpenAI client)."""
        return str(self.emulator.make_url("/v1")).replace("http", "ws", 1)

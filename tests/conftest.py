"""Shared fixtures: configuration, a proxy on loopback, and scriptable fake upstreams."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from proxy.config import Config
from proxy.emulator import (
    EMULATOR_PATH,
    EMULATOR_SESSIONS,
    EmulatorConnection,
    EmulatorSettings,
    create_emulator_app,
)
from proxy.web.app import create_app
from tests.helpers import config

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


@pytest.fixture
def start_proxy(aiohttp_server: Any) -> StartProxy:
    """Start the proxy app for a config; returns its TestServer."""

    async def start(cfg: Config, registry: CollectorRegistry | None = None) -> TestServer:
        app = create_app(
            cfg,
            registry=registry or CollectorRegistry(),
            logger=structlog.get_logger("test"),
        )
        server: TestServer = await aiohttp_server(app)
        return server

    return start


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


@pytest.fixture
def fake_upstream(aiohttp_server: Any) -> Callable[..., Awaitable[tuple[FakeUpstream, str]]]:
    """Start a FakeUpstream; returns it and its ws:// URL."""

    async def start(**options: Any) -> tuple[FakeUpstream, str]:
        fake = FakeUpstream(**options)
        app = web.Application()
        app.router.add_get("/api/v1/realtime/session", fake.handler)
        server = await aiohttp_server(app)
        return fake, str(server.make_url("/api/v1/realtime/session")).replace("http", "ws", 1)

    return start


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


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    """Emulator settings for the stack; override in a test module to change them."""
    return EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0.05)


@pytest.fixture
async def stack(
    aiohttp_server: Any, start_proxy: StartProxy, emulator_settings: EmulatorSettings
) -> Stack:
    """Emulator (checking the test credentials, pinging often) and a proxy in front of it."""
    emulator = await aiohttp_server(create_emulator_app(emulator_settings))
    url = str(emulator.make_url(EMULATOR_PATH)).replace("http", "ws", 1)
    registry = CollectorRegistry()
    proxy = await start_proxy(proxy_config(url), registry)
    return Stack(emulator=emulator, proxy=proxy, registry=registry)


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (the README's openssl one-liner)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key

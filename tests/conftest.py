"""Shared fixtures: configuration, a proxy on loopback, and scriptable fake upstreams."""

from __future__ import annotations

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
    EmulatorSettings,
    create_emulator_app,
)
from proxy.web.app import create_app
from tests.support.stack import (
    KEY,
    SECRET,
    FakeUpstream,
    Stack,
    StartProxy,
    proxy_config,
)


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

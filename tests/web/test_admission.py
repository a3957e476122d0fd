"""proxy.web.admission and proxy.web.listener: the limits before authentication, through real
sockets on the proxy's own listener (in-process, small limits so the tests stay short)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from proxy.config import ClientsConfig, Config, LimitsConfig
from proxy.web.admission import address_group
from proxy.web.app import create_app
from proxy.web.appkeys import ADMISSION
from proxy.web.listener import proxy_site, serve_options
from tests.support.stack import proxy_config

CLIENT_KEY = "ck-admission-0123456789"
TIMEOUT = 5


@dataclasses.dataclass
class Served:
    app: web.Application
    registry: CollectorRegistry
    port: int
    writers: list[asyncio.StreamWriter] = dataclasses.field(default_factory=list)

    async def open(self, data: bytes = b"") -> asyncio.StreamReader:
        """A client connection that sends `data` (kept open until the test ends)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers.append(writer)
        if data:
            writer.write(data)
        return reader

    def send(self, data: bytes) -> None:
        """More bytes on the last connection opened."""
        self.writers[-1].write(data)

    def refused(self, reason: str) -> float:
        value = self.registry.get_sample_value(
            "inworld_proxy_connections_refused_total", {"reason": reason}
        )
        return value or 0.0


@contextlib.asynccontextmanager
async def serve(
    limits: LimitsConfig, *, keys: tuple[str, ...] = (), tls: ssl.SSLContext | None = None
) -> AsyncIterator[Served]:
    """The proxy app on its own listener (as `serve` runs it), upstream unreachable."""
    cfg: Config = proxy_config("ws://127.0.0.1:9/none")
    cfg = dataclasses.replace(cfg, limits=limits, clients=ClientsConfig(api_keys=keys))
    registry = CollectorRegistry()
    app = create_app(cfg, registry=registry, logger=structlog.get_logger("test"))
    runner = web.AppRunner(app, **serve_options(limits))
    await runner.setup()
    await proxy_site(runner, "127.0.0.1", 0, tls).start()
    served = Served(app, registry, int(runner.addresses[0][1]))
    try:
        yield served
    finally:
        for writer in served.writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await runner.cleanup()


async def _until_closed(reader: asyncio.StreamReader, patience: float = TIMEOUT) -> bytes:
    """Everything the proxy writes until it closes the connection."""
    out = b""
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(patience):
            while chunk := await reader.read(65536):
                out += chunk
    return out


async def test_headers_must_arrive_within_the_deadline() -> None:
    """A connection that sends part of a request and stops gets 408 at header_timeout and is
    closed; so does one that sends only empty lines (they do not start the request)."""
    limits = LimitsConfig(header_timeout=0.5)
    async with serve(limits) as served:
        loop = asyncio.get_running_loop()
        started = loop.time()
        slow = await served.open(b"GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        blank = await served.open(b"\r\n\r\n\r\n")
        answers = await asyncio.gather(_until_closed(slow), _until_closed(blank))
        elapsed = loop.time() - started
        assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers)
        assert 0.4 <= elapsed < 2
        assert served.refused("header_timeout") == 2
        assert len(served.app[ADMISSION]) == 0


async def test_headers_over_the_budget_get_431() -> None:
    """Request line and headers past max_header_bytes: 431, closed, before any handler."""
    async with serve(LimitsConfig(max_header_bytes=1024)) as served:
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 1100
        reader = await served.open(request)
        answer = await _until_closed(reader)
        assert answer.startswith(b"HTTP/1.1 431")
        assert b'"headers_too_large"' in answer
        assert served.refused("header_too_large") == 1
        reader = await served.open(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        async with asyncio.timeout(TIMEOUT):  # within the budget: served
            assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")


async def test_oldest_pending_connection_makes_room_after_its_grace() -> None:
    """max_pending_per_address = 2: connections younger than the grace second go over the cap;
    once they are older, a new one closes the oldest (pending_per_address)."""
    limits = LimitsConfig(max_pending_per_address=2, header_timeout=2.0)  # grace: 1 s
    async with serve(limits) as served:
        first = await served.open(b"GET / HTTP/1.1\r\n")
        await served.open(b"GET / HTTP/1.1\r\n")
        await served.open(b"GET / HTTP/1.1\r\n")  # young ones: over the cap for now
        await asyncio.sleep(0.1)
        assert not first.at_eof()
        assert served.refused("pending_per_address") == 0
        await asyncio.sleep(1.0)  # now past the grace second
        await served.open(b"GET / HTTP/1.1\r\n")
        assert await _until_closed(first, 1.0) == b""  # closed, no answer: it took too long
        assert served.refused("pending_per_address") == 2  # down to the cap again


async def test_hard_cap_closes_the_oldest_whatever_its_age() -> None:
    """Over the hard cap (half the descriptor limit; here set to 2) the oldest pending
    connection is closed at once."""
    async with serve(LimitsConfig()) as served:
        served.app[ADMISSION].limit_total(2)
        first = await served.open(b"GET / HTTP/1.1\r\n")
        await served.open(b"GET / HTTP/1.1\r\n")
        await served.open(b"GET / HTTP/1.1\r\n")
        assert await _until_closed(first, 2.0) == b""
        assert served.refused("pending_total") == 1


async def test_refused_request_closes_its_connection_and_a_served_one_stays() -> None:
    """A 401 on a connection nobody authenticated is its last answer (Connection: close, then
    EOF); a request with the key authenticates its connection, which then serves another."""
    async with serve(LimitsConfig(), keys=(CLIENT_KEY,)) as served:
        reader = await served.open(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = await _until_closed(reader)
        assert answer.startswith(b"HTTP/1.1 401")
        assert b"Connection: close" in answer
        assert served.refused("unauthorized") == 1
        keyed = (
            f"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {CLIENT_KEY}\r\n"
            "\r\n"
        )
        reader = await served.open(keyed.encode())
        for _ in range(2):
            async with asyncio.timeout(TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 404")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
            served.send(keyed.encode())
        assert len(served.app[ADMISSION]) == 0


async def test_idle_keep_alive_ends_at_keepalive_timeout() -> None:
    """An authenticated connection left idle is closed after limits.keepalive_timeout."""
    async with serve(LimitsConfig(keepalive_timeout=0.5)) as served:
        reader = await served.open(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await _until_closed(reader)
        assert answer.startswith(b"HTTP/1.1 404")
        assert 0.4 <= loop.time() - started < 3


@pytest.mark.parametrize(
    ("peer", "group"),
    [
        (("203.0.113.7", 1234), "203.0.113.7"),
        (("2001:db8::1", 1234, 0, 0), "2001:db8::/64"),
        (("2001:db8::ffff:1", 1234, 0, 0), "2001:db8::/64"),
        (("::ffff:198.51.100.2", 1234, 0, 0), "198.51.100.2"),
        (("fe80::1%eth0", 1, 0, 2), "fe80::/64"),
        ("/tmp/socket", "local"),
        (None, "local"),
    ],
)
def test_address_group(peer: Any, group: str) -> None:
    """Per-address caps count IPv4 addresses and IPv6 /64s."""
    assert address_group(peer) == group


async def test_listener_binds_every_address_and_reports_a_taken_port() -> None:
    """The listener binds like asyncio's create_server; a taken port is an OSError."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = proxy_config("ws://127.0.0.1:9/none")
        app = create_app(cfg, registry=CollectorRegistry(), logger=structlog.get_logger("t"))
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            with pytest.raises(OSError, match="in use"):
                await proxy_site(runner, "127.0.0.1", port, None).start()
        finally:
            await runner.cleanup()


async def test_tls_listener_serves_and_cuts_a_handshake_that_never_comes(
    self_signed: tuple[Path, Path],
) -> None:
    """Over TLS the listener serves as usual; a connection that never starts its TLS
    handshake is closed at header_timeout (it is not yet a pending connection)."""
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    async with serve(LimitsConfig(header_timeout=0.5), tls=context) as served:
        client = ssl.create_default_context(cafile=str(cert))
        url = f"https://localhost:{served.port}/healthz"
        async with aiohttp.ClientSession() as http, http.get(url, ssl=client) as response:
            assert response.status == 200
        silent = await served.open()  # TCP only, no ClientHello
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await _until_closed(silent) == b""
        assert loop.time() - started < 3

"""The raw WebSocket dial (`proxy.ws.dial`): handshake, leftover, failures and TLS, on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from proxy.upstream.inworld import UpstreamRefused, open_websocket
from proxy.ws import dial
from proxy.ws.dial import USER_AGENT, Opened, expected_accept, open_upstream, request_bytes
from proxy.ws.frames import CLOSE, TEXT, FrameParser, parse_close
from tests.support.stack import proxy_config

TIMEOUT = 10
HELLO = b"\x81\x05hello"  # an unmasked TEXT frame, as a server sends it
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_for(request: bytes) -> str:
    """The accept value for the key in a raw request head (computed independently of dial)."""
    match = re.search(rb"\r\nSec-WebSocket-Key: ([^\r]+)\r\n", request)
    assert match is not None
    return base64.b64encode(hashlib.sha1(match[1] + GUID).digest()).decode()


def switching(accept: str, extra: str = "") -> bytes:
    """A 101 response head with `accept` and extra header lines."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
    ).encode()


def masked_text(payload: bytes) -> bytes:
    """A client TEXT frame (FIN, masked) built by hand."""
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


class Collect(asyncio.Protocol):
    """The caller's protocol after the swap: collects bytes."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.changed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.changed.set()

    async def until(self, size: int) -> bytes:
        async with asyncio.timeout(TIMEOUT):
            while len(self.data) < size:
                self.changed.clear()
                await self.changed.wait()
        return bytes(self.data)


def take_over(opened: Opened) -> Collect:
    """Swap in a collecting protocol, feed it the leftover and resume reading (no await)."""
    collect = Collect()
    opened.transport.set_protocol(collect)
    collect.data_received(opened.leftover)
    opened.transport.resume_reading()
    return collect


Script = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Raw:
    """A raw TCP server on loopback that runs `script` for each connection."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self.done = asyncio.Event()  # set when a connection's socket is closed
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            await self.script(head, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            await writer.wait_closed()
            self.done.set()


@asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[Raw]:
    raw = Raw(script)
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    raw.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/x?key=k&protocol=realtime"
    async with server:
        yield raw


def answer(make: Callable[[bytes], bytes], close: bool = False) -> Script:
    """A script: write `make(request)` in one write, then wait for the client (or close)."""

    async def script(head: bytes, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(make(head))
        await w.drain()
        if not close:
            await reader.read()

    return script


async def refused(url: str, **options: Any) -> UpstreamRefused:
    options.setdefault("connect_timeout", TIMEOUT)
    with pytest.raises(UpstreamRefused) as info:
        await open_upstream(url, {"Authorization": "Basic c2VjcmV0"}, **options)
    return info.value


@pytest.fixture
async def ws_upstream(aiohttp_server: Any) -> tuple[str, list[Any], asyncio.Queue[str]]:
    """An aiohttp WebSocket server that sends HELLO right after prepare() and queues texts."""
    seen: list[Any] = []
    received: asyncio.Queue[str] = asyncio.Queue()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        seen.append(request.headers.copy())
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("hello")
        async for message in ws:
            received.put_nowait(message.data)
        return ws

    async def denied(request: web.Request) -> web.Response:
        return web.Response(status=401)

    app = web.Application()
    app.router.add_get("/v1/realtime", handler)
    app.router.add_get("/denied", denied)
    server = await aiohttp_server(app)
    return str(server.make_url("/v1/realtime?key=k")).replace("http", "ws", 1), seen, received


async def test_opens_against_aiohttp_and_keeps_the_first_frame(ws_upstream: Any) -> None:
    """The frame sent with the 101 survives in leftover + the rest; the socket works both ways."""
    url, seen, received = ws_upstream
    async with asyncio.timeout(TIMEOUT):
        opened = await open_upstream(url, {"Authorization": "Basic c2VjcmV0"}, connect_timeout=5)
    try:
        assert opened.headers["upgrade"].lower() == "websocket"
        collect = take_over(opened)
        assert (await collect.until(len(HELLO)))[: len(HELLO)] == HELLO
        (headers,) = seen
        assert headers["Authorization"] == "Basic c2VjcmV0"
        assert headers["Sec-WebSocket-Version"] == "13"
        assert headers["User-Agent"] == USER_AGENT
        assert "Sec-WebSocket-Extensions" not in headers
        assert "Sec-WebSocket-Protocol" not in headers
        opened.transport.write(masked_text(b"from the client"))
        async with asyncio.timeout(TIMEOUT):
            assert await received.get() == "from the client"
    finally:
        opened.transport.close()


async def test_101_and_frames_in_one_write_are_split_at_the_header_end() -> None:
    """101 + a frame + half a frame in one write: leftover holds both; the rest follows the swap."""
    second = b"\x81\x0dfrom upstream"
    release = asyncio.Event()

    async def script(head: bytes, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(switching(accept_for(head)) + HELLO + second[:5])
        await release.wait()
        w.write(second[5:])
        await reader.read()

    async with raw_server(script) as raw:
        async with asyncio.timeout(TIMEOUT):
            opened = await open_upstream(raw.url, {}, connect_timeout=5)
        try:
            assert opened.leftover == HELLO + second[:5]
            assert opened.headers["sec-websocket-accept"] == accept_for(raw.requests[0])
            collect = take_over(opened)
            release.set()
            assert await collect.until(len(HELLO + second)) == HELLO + second
        finally:
            opened.transport.close()
        request = raw.requests[0]
        assert request.startswith(b"GET /v1/x?key=k&protocol=realtime HTTP/1.1\r\n")
        assert b"\r\nHost: 127.0.0.1:" in request
        assert b"Extensions" not in request


async def test_an_empty_leftover_when_nothing_follows_the_headers() -> None:
    """A 101 alone: leftover is empty and the transport is handed over open."""
    async with raw_server(answer(lambda head: switching(accept_for(head)))) as raw:
        opened = await open_upstream(raw.url, {}, connect_timeout=5)
        assert opened.leftover == b""
        assert not opened.transport.is_closing()
        opened.transport.close()


@pytest.mark.parametrize("status", [401, 404])
async def test_http_error_keeps_its_status(ws_upstream: Any, status: int) -> None:
    """A non-101 answer is UpstreamRefused(status, 'HTTP <status>'), as open_websocket maps it."""
    url = ws_upstream[0].replace("/v1/realtime?key=k", "/denied" if status == 401 else "/nowhere")
    error = await refused(url)
    assert (error.status, error.detail) == (status, f"HTTP {status}")


BAD_ANSWERS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "wrong accept": (
        lambda head: switching(expected_accept("AAAAAAAAAAAAAAAAAAAAAA==")),
        "wrong sec-websocket-accept",
    ),
    "no accept": (
        lambda head: b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        "wrong sec-websocket-accept",
    ),
    "no upgrade": (
        lambda head: switching(accept_for(head)).replace(b"Upgrade: websocket\r\n", b""),
        "no websocket upgrade",
    ),
    "upgrade h2c": (
        lambda head: switching(accept_for(head)).replace(b"Upgrade: websocket", b"Upgrade: h2c"),
        "no websocket upgrade",
    ),
    "connection keep-alive": (
        lambda head: switching(accept_for(head)).replace(b": Upgrade\r\n", b": keep-alive\r\n"),
        "no connection upgrade",
    ),
    "extensions": (
        lambda head: switching(accept_for(head), "Sec-WebSocket-Extensions: x-deflate\r\n"),
        "unexpected extensions",
    ),
    "subprotocol": (
        lambda head: switching(accept_for(head), "Sec-WebSocket-Protocol: realtime\r\n"),
        "unexpected subprotocol",
    ),
    "garbage status line": (lambda head: b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "malformed status line"),
    "malformed header": (
        lambda head: switching(accept_for(head), "this line has no colon\r\n"),
        "malformed header",
    ),
    "folded header": (
        lambda head: switching(accept_for(head), "X-A: b\r\n  folded\r\n"),
        "malformed header",
    ),
    "oversized headers": (
        lambda head: switching(accept_for(head), f"X-Big: {'a' * 2000}\r\n"),
        "response headers too large",
    ),
    "oversized, never ending": (
        lambda head: b"HTTP/1.1 101 OK\r\nX-Big: " + b"a" * 2000,
        "response headers too large",
    ),
}


@pytest.mark.parametrize("case", BAD_ANSWERS)
async def test_a_bad_101_is_refused_without_a_status(case: str) -> None:
    """A 101 that is not a valid WebSocket upgrade is UpstreamRefused(None, reason); no fd leaks."""
    make, reason = BAD_ANSWERS[case]
    async with raw_server(answer(make)) as raw:
        before = fd_count()
        error = await refused(raw.url, max_header_bytes=1024)
        async with asyncio.timeout(TIMEOUT):
            await raw.done.wait()
        assert fd_count() == before
    assert (error.status, error.detail) == (None, reason)


async def test_eof_in_the_middle_of_the_headers() -> None:
    """The server closes before the end of the header block: refused, connection closed."""
    half = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    async with raw_server(answer(lambda head: half, close=True)) as raw:
        before = fd_count()
        error = await refused(raw.url)
        async with asyncio.timeout(TIMEOUT):
            await raw.done.wait()
        assert fd_count() == before
    assert (error.status, error.detail) == (None, "connection closed during handshake")


async def test_a_silent_server_times_out() -> None:
    """TCP accepted, nothing answered: the connect_timeout message of open_websocket; no fd leak."""
    async with raw_server(answer(lambda head: b"")) as raw:
        before = fd_count()
        error = await refused(raw.url, connect_timeout=0.2)
        async with asyncio.timeout(TIMEOUT):
            await raw.done.wait()
        assert fd_count() == before
    assert (error.status, error.detail) == (None, "no handshake within 0.2 s")


async def test_a_closed_port_is_refused() -> None:
    """Nothing listening: UpstreamRefused(None, strerror); no fd leak."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = fd_count()
    error = await refused(f"ws://127.0.0.1:{port}/")
    assert fd_count() == before
    assert error.status is None
    assert error.detail


async def test_a_raw_401_closes_the_socket() -> None:
    """A 401 from a raw server: status kept, and the client's socket is closed when it raises."""
    denied = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
    async with raw_server(answer(lambda head: denied)) as raw:
        before = fd_count()
        error = await refused(raw.url)
        async with asyncio.timeout(TIMEOUT):
            await raw.done.wait()
        assert fd_count() == before
    assert (error.status, error.detail) == (401, "HTTP 401")


@asynccontextmanager
async def tls_upstream(cert: Path, key: Path) -> AsyncIterator[str]:
    """An aiohttp TLS site whose WebSocket handler sends HELLO after prepare()."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("hello")
        async for _ in ws:
            pass
        return ws

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    try:
        yield f"wss://localhost:{runner.addresses[0][1]}/ws"
    finally:
        await runner.cleanup()


async def test_wss_with_a_trusted_certificate(self_signed: tuple[Path, Path]) -> None:
    """wss:// with a context that trusts the certificate: the first frame arrives over TLS."""
    cert, key = self_signed
    async with tls_upstream(cert, key) as url:
        url = url.replace("localhost", "127.0.0.1")  # the IP SAN is verified too
        trusted = ssl.create_default_context(cafile=str(cert))
        async with asyncio.timeout(TIMEOUT):
            opened = await open_upstream(url, {}, connect_timeout=5, ssl_context=trusted)
        try:
            collect = take_over(opened)
            assert (await collect.until(len(HELLO)))[: len(HELLO)] == HELLO
        finally:
            opened.transport.close()


async def test_wss_default_context_rejects_a_self_signed_certificate(
    self_signed: tuple[Path, Path],
) -> None:
    """wss:// with the default (verifying) context: UpstreamRefused(None, certificate error)."""
    async with tls_upstream(*self_signed) as url:
        error = await refused(url.replace("localhost", "127.0.0.1"))
    assert error.status is None
    assert "certificate verify failed" in error.detail.lower()


def test_request_bytes_exact() -> None:
    """The request: target, Host with an IPv6 literal and port, fixed headers, then the caller's."""
    request = request_bytes("ws://[::1]:8080/v1/x?key=k&p=r", {"Authorization": "Basic x"}, "K==")
    assert request == (
        b"GET /v1/x?key=k&p=r HTTP/1.1\r\nHost: [::1]:8080\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: K==\r\nSec-WebSocket-Version: 13\r\n"
        b"User-Agent: inworld-realtime-proxy\r\nAuthorization: Basic x\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("url", "host", "target"),
    [
        ("wss://api.example:443/a", b"api.example", b"/a"),
        ("wss://api.example:8443", b"api.example:8443", b"/"),
        ("ws://[2001:db8::1]/", b"[2001:db8::1]", b"/"),
        ("ws://[2001:db8::1]:443/", b"[2001:db8::1]:443", b"/"),
        ("WS://Host.Example:80/p?q", b"host.example", b"/p?q"),
    ],
)
def test_host_header_omits_the_default_port(url: str, host: bytes, target: bytes) -> None:
    """Host carries `:port` only when it is not the scheme's default; IPv6 in brackets."""
    request = request_bytes(url, {}, "K==")
    assert request.startswith(b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n")


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("http://example/", {}),
        ("wss:///nohost", {}),
        ("ws://example/", {"X-A": "1\r\nX-Injected: 1"}),
        ("ws://example/", {"X-A": "1\n"}),
        ("ws://example/", {"Bad Name": "1"}),
        ("ws://example/", {"sec-websocket-extensions": "permessage-deflate"}),
        ("ws://example/", {"Host": "other"}),
        ("ws://example/", {"OpenAI-Beta": "realtime=v1\u20ac"}),  # not Latin-1
    ],
)
async def test_bad_url_or_header_is_a_value_error(url: str, headers: dict[str, str]) -> None:
    """Unknown schemes, header injection and overriding the handshake's headers: ValueError."""
    with pytest.raises(ValueError, match=r"."):
        request_bytes(url, headers, "K==")
    with pytest.raises(ValueError, match=r"."):
        await open_upstream(url, headers, connect_timeout=1)


def test_expected_accept_matches_rfc_6455() -> None:
    """The RFC 6455 §1.3 example key gives the example accept value."""
    assert expected_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


async def test_a_header_the_request_cannot_carry_is_a_refusal() -> None:
    """open_websocket turns a header the request cannot carry into UpstreamRefused, no crash."""
    with pytest.raises(UpstreamRefused, match="not Latin-1"):
        await open_websocket(
            "ws://127.0.0.1:9/x", {"OpenAI-Beta": "\u20ac"}, connect_timeout=1, max_msg_size=1024
        )


async def test_an_upstream_that_breaks_the_protocol_gets_its_code_and_the_client_1011(
    start_proxy: Any,
) -> None:
    """Inworld sending a masked frame (a protocol error): the client gets 1011, Inworld 1002."""
    closes: list[bytes] = []

    async def script(head: bytes, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(switching(accept_for(head)) + masked_text(b'{"type":"session.created"}'))
        await w.drain()
        closes.append(await reader.read())  # all the proxy sends until it closes

    async with raw_server(script) as raw:
        proxy = await start_proxy(proxy_config(raw.url))
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(proxy.make_url("/v1/realtime")) as ws,
        ):
            msg = await ws.receive(timeout=TIMEOUT)
            assert msg.type is aiohttp.WSMsgType.CLOSE
            assert (msg.data, msg.extra) == (1011, "upstream protocol error")
        async with asyncio.timeout(TIMEOUT):
            await raw.done.wait()
    frames = FrameParser(masked=True, max_size=1 << 20).feed(closes[0])
    assert [f.opcode for f in frames] == [TEXT, CLOSE]  # its session.update, then the Close
    assert parse_close(frames[-1].payload)[0] == 1002


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_dial_cancelled_right_after_connecting_unwinds_at_once(
    loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session that ends while its dial is connecting cancels the dial just after TCP is up
    (inside `create_connection`). uvloop then closes the transport itself and never calls
    `connection_lost`: the dial must not wait for it (it waited 1 s, `_LOST_WAIT`, made
    longer here so a wait cannot pass unnoticed). No descriptor is left behind either."""
    uvloop = pytest.importorskip("uvloop") if loop == "uvloop" else None
    monkeypatch.setattr(dial, "_LOST_WAIT", 60.0)
    tasks: list[asyncio.Task[Opened]] = []
    made = dial._Handshake.connection_made

    def cancel_on_connect(self: Any, transport: asyncio.BaseTransport) -> None:
        made(self, transport)
        tasks[0].cancel()  # what the relay's TaskGroup does when the session ends now

    monkeypatch.setattr(dial._Handshake, "connection_made", cancel_on_connect)

    async def run() -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        before = fd_count()
        async with server:
            url = f"ws://127.0.0.1:{port}/"
            loop = asyncio.get_running_loop()
            tasks.append(loop.create_task(open_upstream(url, {}, connect_timeout=TIMEOUT)))
            with pytest.raises(asyncio.CancelledError):
                async with asyncio.timeout(TIMEOUT):  # would take _LOST_WAIT (60 s) if it waited
                    await tasks[0]
            for _ in range(3):  # asyncio closes an aborted socket on its next turns
                await asyncio.sleep(0)
            assert fd_count() <= before

    factory = uvloop.new_event_loop if uvloop is not None else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(run())

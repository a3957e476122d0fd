"""The client side of the WebSocket opening handshake (RFC 6455 §4.1) on a raw asyncio transport.

`open_upstream` connects (TCP, TLS for wss://), sends the upgrade request, reads the response's
header block and checks it, then hands back the transport with reading PAUSED and the bytes that
came after the header block (`Opened.leftover`: the start of the first WebSocket frames, which
servers such as Inworld send together with the 101). Nothing is parsed past the headers, so no
byte of the first frames can be consumed by anyone else. No permessage-deflate and no
sub-protocol are offered: frames arrive exactly as the server wrote them.

Invariant for the caller: between `open_upstream` returning and
`transport.set_protocol(p)` there must be no `await`; then feed `leftover` to `p` and call
`transport.resume_reading()`. (Until the swap, the handshake protocol keeps buffering whatever
still arrives; `leftover` is cut from that buffer at return time.)

Failures raise `UpstreamRefused` (re-exported by `proxy.upstream.inworld`); every failure path
aborts the transport and waits for it to be lost (no fd leak), except when the dial ends (is
cancelled, or times out) while the event loop's `create_connection` still holds the transport:
the loop then closes the transport itself, and uvloop does so without ever calling
`connection_lost`, so waiting for it would stall every such dial for `_LOST_WAIT`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

__all__ = [
    "USER_AGENT",
    "Opened",
    "UpstreamRefused",
    "expected_accept",
    "open_upstream",
    "request_bytes",
]

USER_AGENT = "inworld-realtime-proxy"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_DEFAULT_PORTS = {"ws": 80, "wss": 443}
_OWN = frozenset(
    {"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
     "sec-websocket-extensions", "sec-websocket-protocol", "user-agent"}
)  # fmt: skip
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: [^\r\n]*)?")
_HEADER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n\x00]*?)[ \t]*")
_CLOSED = "connection closed during handshake"
_LOST_WAIT = 1.0  # seconds; a bound only: an aborted transport is lost on the next loop turn


class UpstreamRefused(Exception):
    """The upstream handshake failed; `status` is the HTTP status, or None (network, timeout)."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Opened:
    """An upgraded connection: `transport` has reading paused (see the module's invariant)."""

    transport: asyncio.Transport
    leftover: bytes  # received after the 101's header block: the first frames' bytes, maybe b""
    headers: Mapping[str, str]  # the 101's headers, lower-cased names (for logs and tests)


def expected_accept(key: str) -> str:
    """The `Sec-WebSocket-Accept` value a server must answer to `Sec-WebSocket-Key: key`."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def _target(url: str) -> tuple[bool, str, int, str, str]:
    """(tls, host, port, Host header, request target) for a ws:// or wss:// URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"not a ws:// or wss:// URL: scheme {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise ValueError("URL without a host")
    port = parts.port or _DEFAULT_PORTS[scheme]  # .port raises ValueError when out of range
    authority = f"[{host}]" if ":" in host else host
    if port != _DEFAULT_PORTS[scheme]:
        authority = f"{authority}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(c.isspace() for c in target):
        raise ValueError("whitespace in the URL's path or query")
    return scheme == "wss", host, port, authority, target


def request_bytes(url: str, headers: Mapping[str, str], key: str) -> bytes:
    """The upgrade request for `url` with `key`, then the caller's `headers`.

    Raises:
        ValueError: not a ws/wss URL; a header name that is not a token, repeats one of the
            handshake's own headers, or a value containing CR, LF or NUL.
    """
    _, _, _, authority, target = _target(url)
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {authority}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"User-Agent: {USER_AGENT}",
    ]
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or name.lower() in _OWN:
            raise ValueError(f"header name not allowed: {name!r}")
        if any(c in value for c in "\r\n\x00"):
            raise ValueError(f"header {name} has a CR, LF or NUL in its value")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"header {name} is not Latin-1") from None
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _check_response(head: bytes, key: str) -> dict[str, str]:
    """The 101's headers (lower-cased names), or UpstreamRefused for anything else."""
    status_line, *header_lines = head.split(b"\r\n")
    status = _STATUS.fullmatch(status_line)
    if status is None:
        raise UpstreamRefused(None, "malformed status line")
    code = int(status[1])
    if code != 101:
        raise UpstreamRefused(code, f"HTTP {code}")
    headers: dict[str, str] = {}
    for line in header_lines:
        match = _HEADER.fullmatch(line)
        if match is None:
            raise UpstreamRefused(None, "malformed header")
        name, value = match[1].decode("ascii").lower(), match[2].decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if headers.get("upgrade", "").strip().lower() != "websocket":
        raise UpstreamRefused(None, "no websocket upgrade")
    if "upgrade" not in {t.strip().lower() for t in headers.get("connection", "").split(",")}:
        raise UpstreamRefused(None, "no connection upgrade")
    if headers.get("sec-websocket-accept") != expected_accept(key):
        raise UpstreamRefused(None, "wrong sec-websocket-accept")
    if "sec-websocket-extensions" in headers:
        raise UpstreamRefused(None, "unexpected extensions")
    if "sec-websocket-protocol" in headers:
        raise UpstreamRefused(None, "unexpected subprotocol")
    return headers


class _Handshake(asyncio.Protocol):
    """Writes the request, buffers until the end of the header block, then pauses reading."""

    def __init__(self, request: bytes, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self.limit = limit
        self.buffer = bytearray()
        self.head_end = -1  # index just past b"\r\n\r\n" once seen
        self.transport: asyncio.Transport | None = None
        self.head: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        start = max(0, len(self.buffer) - 3)
        self.buffer += data
        if self.head.done():
            return  # after the head: kept for `leftover` until the caller swaps protocols
        end = self.buffer.find(b"\r\n\r\n", start)
        if end < 0 and len(self.buffer) <= self.limit:
            return
        if end < 0 or end + 4 > self.limit:
            self.head.set_exception(UpstreamRefused(None, "response headers too large"))
            return
        self.head_end = end + 4
        assert self.transport is not None
        self.transport.pause_reading()
        self.head.set_result(None)

    def eof_received(self) -> None:
        if not self.head.done():
            self.head.set_exception(UpstreamRefused(None, _CLOSED))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            detail = _CLOSED if exc is None else _os_detail(exc)
            self.head.set_exception(UpstreamRefused(None, detail))
        if not self.lost.done():
            self.lost.set_result(None)

    async def abort(self, *, owned: bool) -> None:
        """Abort the transport (if one was made); if `owned` (`create_connection` returned
        it), wait until it is lost: its fd is closed. Not owned, the loop closes it itself
        (uvloop: at once and without `connection_lost`; asyncio: on its next turn)."""
        if not self.head.done():
            self.head.cancel()  # nobody waits for it any more (nor for a late connection_lost's)
        if self.transport is not None:
            self.transport.abort()
            if owned:
                await asyncio.wait([self.lost], timeout=_LOST_WAIT)  # lost on the next turn
        if self.head.done() and not self.head.cancelled():
            self.head.exception()  # retrieved: no "exception was never retrieved" warning


def _os_detail(exc: BaseException) -> str:
    strerror = exc.strerror if isinstance(exc, OSError) else None
    return strerror or type(exc).__name__


async def open_upstream(
    url: str,
    headers: Mapping[str, str],
    *,
    connect_timeout: float,
    ssl_context: ssl.SSLContext | None = None,
    max_header_bytes: int = 65536,
) -> Opened:
    """Connect to `url` (ws:// or wss://) and complete the WebSocket opening handshake.

    `headers` (e.g. Authorization) follow the handshake's own and are never logged.
    `connect_timeout` bounds TCP connect, TLS and the whole handshake. For wss://, None means
    `ssl.create_default_context()` (certificate and host name verified; it loads the CA store on
    every call, so pass one shared context per app on a hot path). The returned transport
    has reading paused: swap its protocol without awaiting (module docstring).

    Raises:
        ValueError: a bad URL or header (before connecting).
        UpstreamRefused: `(status, "HTTP <status>")` for a non-101 answer; `(None, detail)` for
            the deadline, an OSError (refused, reset, DNS, TLS verification), or a 101 that is
            not a valid upgrade (bad accept, missing Upgrade/Connection, extensions, malformed
            or oversized headers, EOF before their end).
    """
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    request = request_bytes(url, headers, key)
    tls, host, port, _, _ = _target(url)
    context = (ssl_context or ssl.create_default_context()) if tls else None
    loop = asyncio.get_running_loop()
    protocol = _Handshake(request, max_header_bytes, loop)
    owned = False  # create_connection returned the transport: its end is ours to wait for
    try:
        async with asyncio.timeout(connect_timeout):
            await loop.create_connection(
                lambda: protocol, host, port, ssl=context, server_hostname=host if tls else None
            )
            owned = True
            await protocol.head
        response = _check_response(bytes(protocol.buffer[: protocol.head_end - 4]), key)
        if protocol.lost.done() or protocol.transport is None or protocol.transport.is_closing():
            raise UpstreamRefused(None, _CLOSED)  # gone before the caller could take it over
    except BaseException as exc:
        await protocol.abort(owned=owned)
        if isinstance(exc, UpstreamRefused):
            raise
        if isinstance(exc, TimeoutError):
            raise UpstreamRefused(None, f"no handshake within {connect_timeout:g} s") from None
        if isinstance(exc, OSError):
            raise UpstreamRefused(None, _os_detail(exc)) from None
        raise
    return Opened(protocol.transport, bytes(protocol.buffer[protocol.head_end :]), response)

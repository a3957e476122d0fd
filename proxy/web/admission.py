"""Connections before authentication: a deadline, a header budget, and caps (issue 18 item 1).

A connection is *pending* from the moment it is accepted until a request on it passes the
guard (`Admission.authenticated`, called by `proxy.web.guard`), or until it closes. While it
is pending:

- it has `limits.header_timeout` seconds to be authenticated: its request line and headers
  must arrive, and pass, in that time. Then it is closed (HTTP 408 first when its headers were
  not complete), whatever it is doing;
- its request line and headers may take at most `limits.max_header_bytes` bytes (leading empty
  lines aside); more is answered with HTTP 431 and the connection is closed before aiohttp's
  parser holds it;
- at most `limits.max_pending_per_address` connections from one source address (IPv6: one
  /64) and `limits.max_pending_connections` in all may be pending. A new connection over a cap
  is admitted and the oldest pending one (from the same address, or, for the total, from the
  address holding the most) is closed, if it has been pending for a second at least (`grace`):
  a client whose request arrives at once is never closed for room, even when many share one
  address (a load balancer), while half-open connections age into the oldest. Connections
  younger than that go over the cap until they are old enough (the deadline still holds),
  except over the hard cap the listener sets at half the process's descriptor limit
  (`limit_total`): there the oldest goes whatever its age, so that connections nobody
  authenticated never take the descriptors sessions need;
- its one request is answered with `Connection: close` (the guard forces it), so an
  unauthenticated client cannot keep a connection by sending request after request.

Authenticated connections leave all of this: aiohttp's `keepalive_timeout` bounds them once
idle. `GuardedProtocol` is the thin asyncio protocol around aiohttp's `RequestHandler` that
reports to an `Admission`; `proxy.web.listener` creates one per accepted connection. Every
refusal is counted in `inworld_proxy_connections_refused_total{reason}`; nothing here logs
(an attacker controls how often it happens).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp.web_protocol import RequestHandler

from proxy.config import LimitsConfig

__all__ = ["REFUSAL_REASONS", "Admission", "GuardedProtocol", "address_group"]

# Every value of the `reason` label of `inworld_proxy_connections_refused_total`.
REFUSAL_REASONS = (
    "header_timeout",  # not authenticated within limits.header_timeout
    "header_too_large",  # request line + headers over limits.max_header_bytes (431)
    "pending_per_address",  # closed for a newer connection from the same address
    "pending_total",  # closed for a newer connection (limits.max_pending_connections)
    "out_of_descriptors",  # closed so that accept() could go on (EMFILE and the like)
    "accept_failed",  # an accept() that failed for want of descriptors (the client waits)
    "unauthorized",  # 401: missing, wrong or malformed credential, token outside its scope
    "origin_not_allowed",  # 403
    "host_not_allowed",  # 421 (no client keys set, Host header not allowed)
)


def _answer(status: str, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response with an OpenAI-shaped JSON body."""
    body = orjson.dumps(
        {"error": {"type": "invalid_request_error", "code": code, "message": message}}
    )
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_TIMEOUT_ANSWER = _answer(
    "408 Request Timeout", "request_timeout", "The request headers did not arrive in time."
)
_TOO_LARGE_ANSWER = _answer(
    "431 Request Header Fields Too Large",
    "headers_too_large",
    "The request line and headers are larger than the proxy accepts.",
)


def address_group(peer: Any) -> str:
    """The source address a per-address cap counts by: the IPv4 address, or the IPv6 /64
    (one host usually holds a whole /64); anything else (a Unix socket) is one group."""
    host = peer[0] if isinstance(peer, tuple) and peer else None
    if not isinstance(host, str):
        return "local"
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(eq=False, slots=True)
class _Pending:
    """One connection not yet authenticated."""

    transport: asyncio.BaseTransport
    group: str
    born: float  # loop time it was accepted
    deadline: asyncio.TimerHandle | None = None
    header_bytes: int = 0
    headers_done: bool = False
    started: bool = False  # a byte other than CR/LF arrived (the request line began)
    tail: bytes = field(default=b"", repr=False)  # last bytes seen, for an end split in two


def _header_end(data: bytes) -> int:
    """Index just past the first empty line in `data` (CRLFCRLF or LFLF), or -1."""
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
    return min(ends) if ends else -1


class Admission:
    """The pending connections of one listener (see the module docstring).

    Args:
        limits: `header_timeout`, `max_header_bytes`, `max_pending_per_address` and
            `max_pending_connections` are read.
        refused: called with a `REFUSAL_REASONS` value for each connection it closes.
    """

    def __init__(self, limits: LimitsConfig, refused: Callable[[str], None]) -> None:
        self.header_timeout = limits.header_timeout
        self.max_header_bytes = limits.max_header_bytes
        self.per_address = limits.max_pending_per_address
        self.total = limits.max_pending_connections
        self.hard_total: int | None = None  # `limit_total`: never exceeded, whatever the age
        # Connections younger than this are never closed to make room: a client whose request
        # arrives at once (behind a load balancer, many share one address) is never evicted.
        self.grace = min(1.0, limits.header_timeout / 2)
        self._refused = refused
        self._pending: dict[asyncio.BaseTransport, _Pending] = {}
        self._groups: dict[str, dict[_Pending, None]] = {}  # oldest first

    def __len__(self) -> int:
        return len(self._pending)

    def limit_total(self, cap: int) -> None:
        """Set a hard cap on pending connections (the listener passes half the descriptor
        limit): over it the oldest is closed even inside its grace second."""
        self.hard_total = max(1, cap)

    # -- the connection's life -----------------------------------------------------------

    def opened(self, transport: asyncio.BaseTransport) -> _Pending:
        """Track a new connection; close the oldest pending ones over a cap (those older
        than `grace` only: see the module docstring)."""
        loop = asyncio.get_running_loop()
        group_name = address_group(transport.get_extra_info("peername"))
        entry = _Pending(transport, group_name, loop.time())
        group = self._groups.get(group_name, {})
        while len(group) >= self.per_address and self._old(next(iter(group))):
            self._close(next(iter(group)), "pending_per_address")
        while len(self._pending) >= self.total and self.evict_oldest("pending_total"):
            pass
        hard = self.hard_total
        while hard is not None and len(self._pending) >= hard:
            self.evict_oldest("pending_total", grace=False)
        entry.deadline = loop.call_later(self.header_timeout, self._expired, entry)
        self._pending[transport] = entry
        self._groups.setdefault(entry.group, {})[entry] = None
        return entry

    def received(self, entry: _Pending, data: bytes) -> bool:
        """Count `data` against the header budget; False if the connection was closed."""
        if entry.headers_done:
            return True
        if not entry.started:
            stripped = data.lstrip(b"\r\n")
            entry.header_bytes += len(data) - len(stripped)
            if not stripped:
                return entry.header_bytes <= self.max_header_bytes or self._too_large(entry)
            entry.started, data = True, stripped
        joined = entry.tail + data
        end = _header_end(joined)
        if end < 0:
            entry.header_bytes += len(data)
            entry.tail = joined[-3:]
        else:
            entry.header_bytes += end - len(entry.tail)
            entry.headers_done, entry.tail = True, b""
        return entry.header_bytes <= self.max_header_bytes or self._too_large(entry)

    def authenticated(self, transport: asyncio.BaseTransport | None) -> None:
        """A request on `transport` passed the guard: the connection is no longer pending."""
        entry = self._pending.pop(transport, None) if transport is not None else None
        if entry is not None:
            entry.headers_done = True
            self._forget(entry)

    def is_pending(self, transport: asyncio.BaseTransport | None) -> bool:
        """True while `transport` is tracked and not authenticated."""
        return transport is not None and transport in self._pending

    def closed(self, transport: asyncio.BaseTransport) -> None:
        """The connection ended (for any reason)."""
        entry = self._pending.pop(transport, None)
        if entry is not None:
            self._forget(entry)

    def evict_oldest(self, reason: str, *, grace: bool = True) -> bool:
        """Close the oldest pending connection of the address holding the most (with `grace`,
        among those older than `self.grace` only); False if there is none."""
        groups = [g for g in self._groups.values() if not grace or self._old(next(iter(g)))]
        if not groups:
            return False
        largest: dict[_Pending, None] = max(groups, key=len)
        self._close(next(iter(largest)), reason)
        return True

    def _old(self, entry: _Pending) -> bool:
        return asyncio.get_running_loop().time() - entry.born >= self.grace

    # -- internals -----------------------------------------------------------------------

    def _expired(self, entry: _Pending) -> None:
        entry.deadline = None
        if entry.transport in self._pending:
            if not entry.headers_done and not entry.transport.is_closing():
                _write(entry.transport, _TIMEOUT_ANSWER)
            self._close(entry, "header_timeout")

    def _too_large(self, entry: _Pending) -> bool:
        _write(entry.transport, _TOO_LARGE_ANSWER)
        self._close(entry, "header_too_large")
        return False

    def _close(self, entry: _Pending, reason: str) -> None:
        self._pending.pop(entry.transport, None)
        self._forget(entry)
        entry.headers_done = True  # nothing more is counted or passed on
        self._refused(reason)
        entry.transport.close()

    def _forget(self, entry: _Pending) -> None:
        if entry.deadline is not None:
            entry.deadline.cancel()
            entry.deadline = None
        group = self._groups.get(entry.group)
        if group is not None:
            group.pop(entry, None)
            if not group:
                del self._groups[entry.group]


def _write(transport: asyncio.BaseTransport, data: bytes) -> None:
    if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
        transport.write(data)


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's `RequestHandler` for one connection, reporting to an `Admission`.

    Every callback goes on to the handler unchanged, except data that the header budget
    refuses (the connection is closed instead). Once the connection is authenticated the
    only cost is one attribute test per read; a WebSocket's reads never come here at all
    (`proxy.ws.link.take_over` replaces this protocol on the transport).
    """

    __slots__ = ("_admission", "_entry", "_inner")

    def __init__(self, inner: RequestHandler, admission: Admission) -> None:
        self._inner = inner
        self._admission = admission
        self._entry: _Pending | None = None

    @property
    def handler(self) -> RequestHandler:
        """The aiohttp protocol inside."""
        return self._inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._entry = self._admission.opened(transport)
        self._inner.connection_made(transport)
        # aiohttp (3.10+) arms its keep-alive timer at connection start; until the first
        # request the header deadline above is the only timer (keep_alive() cancels it).
        self._inner.keep_alive(True)

    def data_received(self, data: bytes) -> None:
        entry = self._entry
        if (
            entry is not None
            and not entry.headers_done
            and not self._admission.received(entry, data)
        ):
            return  # over the header budget: the connection was closed
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        self._inner.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        entry, self._entry = self._entry, None
        if entry is not None:
            self._admission.closed(entry.transport)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

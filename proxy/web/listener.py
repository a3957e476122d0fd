"""The proxy's listening sockets and its own accept loop, with `Admission` in front of aiohttp.

`ListenSite` is an aiohttp site (`runner.addresses`, `runner.cleanup()` work as for
`web.TCPSite`) that binds the sockets itself and accepts with `loop.sock_accept`, then hands
each connection to `loop.connect_accepted_socket` with a `GuardedProtocol` around aiohttp's
handler. It behaves the same on asyncio and uvloop, and it replaces the event loops' own
accept loops because of what they do when the process runs out of descriptors: asyncio logs
`socket.accept() out of system resource` through the loop's exception handler for every failed
accept() (up to a backlog's worth per wake-up, more than a hundred lines a second), and uvloop
(libuv) accepts and at once closes every connection waiting in the backlog, keyed clients
included. Here:

- accept() fails with EMFILE, ENFILE, ENOBUFS or ENOMEM: the oldest pending (not yet
  authenticated) connection is closed (`connections_refused{reason="out_of_descriptors"}`)
  and accept() is tried again after the loop has released it; with nothing to close the loop
  waits, 10 ms doubling to 1 s. Each failed accept() counts as `accept_failed`.
- the log gets at most one `accept_failing` WARNING per `LOG_INTERVAL` seconds, with the
  number of failures since the previous one.

`serve_options(limits)` are the aiohttp handler options the proxy runs with (the keep-alive
timeout of authenticated connections). `ListenSite.start` also keeps the pending-connection
cap under half the process's descriptor limit (`ulimit -n`), so that connections nobody
authenticated can never take the descriptors live sessions and upstream dials need.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_request import BaseRequest
from yarl import URL

from proxy.config import LimitsConfig
from proxy.web.admission import Admission, GuardedProtocol
from proxy.web.appkeys import ADMISSION, LOGGER, METRICS

__all__ = ["LOG_INTERVAL", "ListenSite", "descriptor_limit", "proxy_site", "serve_options"]

LOG_INTERVAL = 10.0  # seconds between two `accept_failing` lines, at most
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_FIRST_WAIT, _LONGEST_WAIT = 0.01, 1.0


def serve_options(limits: LimitsConfig) -> dict[str, Any]:
    """aiohttp `RequestHandler` options (pass them to `web.AppRunner`)."""
    return {"keepalive_timeout": limits.keepalive_timeout}


def descriptor_limit() -> int | None:
    """The process's soft limit on open descriptors, or None where it cannot be read."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not a Unix
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _bind(host: str | None, port: int, backlog: int) -> list[socket.socket]:
    """Listening, non-blocking sockets for every address `host` resolves to (as asyncio's
    `create_server` does: SO_REUSEADDR, IPv6 sockets v6-only)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _AcceptLoop(asyncio.AbstractServer):
    """The accept loops of a `ListenSite` (what `BaseSite._server` holds)."""

    def __init__(
        self,
        sockets: list[socket.socket],
        site: ListenSite,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._sockets = sockets
        self._site = site
        self._connecting: set[asyncio.Task[None]] = set()
        self._failures = 0  # accept() failures not yet reported in the log
        self._last_log = -LOG_INTERVAL
        self._tasks = [self._loop.create_task(self._accept(sock)) for sock in sockets]

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    def close(self) -> None:
        for task in (*self._tasks, *self._connecting):
            task.cancel()
        # Closed after the loop has dropped its interest in them (queued by the cancel above).
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            self._loop.call_soon(sock.close)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return any(not task.done() for task in self._tasks)

    async def start_serving(self) -> None:
        return None

    async def serve_forever(self) -> None:
        await asyncio.gather(*self._tasks)

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._tasks, *self._connecting, return_exceptions=True)

    async def _accept(self, listener: socket.socket) -> None:
        wait = _FIRST_WAIT
        while True:
            try:
                sock, _ = await self._loop.sock_accept(listener)
            except OSError as exc:
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR):
                    continue  # the client left before accept(): nothing to do
                self._exhausted(exc)  # counted and logged (once per LOG_INTERVAL)
                if exc.errno in _EXHAUSTED and self._site.admission.evict_oldest(
                    "out_of_descriptors"
                ):
                    await asyncio.sleep(0)  # the loop releases the descriptor after a turn
                    await asyncio.sleep(0)
                else:
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, _LONGEST_WAIT)
                continue
            wait = _FIRST_WAIT
            task = self._loop.create_task(self._connect(sock))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    def _exhausted(self, exc: OSError) -> None:
        """accept() failed: out of descriptors, or (never seen) anything else; the loop waits
        and tries again rather than stop listening."""
        self._site.refused("accept_failed")
        self._failures += 1
        now = time.monotonic()
        if now - self._last_log >= LOG_INTERVAL:
            self._site.log.warning(
                "accept_failing",
                error=errno.errorcode.get(exc.errno or 0, str(exc.errno)),
                failures=self._failures,
                pending_connections=len(self._site.admission),
                detail=(
                    "out of descriptors: closing the oldest unauthenticated connections"
                    if exc.errno in _EXHAUSTED
                    else "accept() failed; trying again"
                ),
            )
            self._failures, self._last_log = 0, now

    async def _connect(self, sock: socket.socket) -> None:
        site = self._site
        try:
            transport, _ = await self._loop.connect_accepted_socket(
                site.protocol,
                sock,
                ssl=site.ssl_context,
                ssl_handshake_timeout=site.admission.header_timeout if site.ssl_context else None,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            sock.close()  # a failed TLS handshake, a reset, or no descriptor to dup
            return
        except asyncio.CancelledError:
            sock.close()
            raise
        held = transport.get_extra_info("socket")
        if held is not None and held.fileno() != sock.fileno():
            sock.close()  # uvloop runs the connection on a duplicate: drop the original


class ListenSite(web.BaseSite):
    """An aiohttp site serving `runner` on `host:port` through an `Admission`.

    Args:
        admission: the application's pending-connection tracker.
        log: where `accept_failing` goes.
        refused: counts a `proxy.web.admission.REFUSAL_REASONS` value.
    """

    __slots__ = ("_host", "_port", "admission", "log", "refused")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        admission: Admission,
        log: structlog.typing.FilteringBoundLogger,
        refused: Callable[[str], None],
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host, self._port = host, port
        self.admission = admission
        self.log = log
        self.refused = refused

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return str(URL.build(scheme=scheme, host=self._host or "0.0.0.0", port=self._port))

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return self._ssl_context

    def protocol(self) -> GuardedProtocol:
        """A new connection's protocol: aiohttp's handler inside a `GuardedProtocol`."""
        server = self._runner.server
        assert server is not None, "the runner is set up before its sites start"
        return GuardedProtocol(server(), self.admission)

    async def start(self) -> None:
        """Bind and start accepting.

        Raises:
            OSError: the address cannot be bound (in use, not local, no permission).
        """
        await super().start()
        limit = descriptor_limit()
        if limit is not None:
            self.admission.limit_total(limit // 2)
        self._server = _AcceptLoop(_bind(self._host, self._port, self._backlog), self)


def _expect_guard(
    handler: Callable[[BaseRequest], Awaitable[web.StreamResponse]],
) -> Callable[[BaseRequest], Awaitable[web.StreamResponse]]:
    """aiohttp answers an `Expect` header before any middleware runs, and its answer to a
    value that is not UTF-8 raises (a 500 with a traceback): such a request gets 417 here."""

    async def handle(request: BaseRequest) -> web.StreamResponse:
        expect = request.headers.get("Expect")
        if expect is not None and not expect.isascii():
            body = {"error": {"type": "invalid_request_error", "code": "invalid_expect",
                              "message": "The Expect header is not valid."}}  # fmt: skip
            return web.json_response(body, status=417)
        return await handler(request)

    return handle


def proxy_site(
    runner: web.AppRunner, host: str, port: int, tls: ssl.SSLContext | None
) -> ListenSite:
    """The `ListenSite` of a proxy application (`proxy.web.app.create_app`) on `host:port`
    (after `runner.setup()`)."""
    app = runner.app
    server = runner.server
    assert server is not None, "call runner.setup() first"
    server.request_handler = _expect_guard(server.request_handler)
    return ListenSite(
        runner,
        host,
        port,
        admission=app[ADMISSION],
        log=app[LOGGER],
        refused=app[METRICS].connections_refused_by,
        ssl_context=tls,
    )

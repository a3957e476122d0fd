"""One proxy session over in-memory transports: the real relay without sockets.

`open_session()` builds what `proxy.web.realtime` builds for a client (two `Link`s, a `Relay`, a
`Translator`, a `SessionObserver`), but each link's transport is a `MemoryTransport`: what a
link writes is counted (and kept, if asked), and a read is a call to the link's
`data_received`. `bench.hotpath` times the hot path this way; `tests/test_hot_lane.py` checks
what the hot lane forwards and counts, read by read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from typing import Any, cast

import orjson
import structlog

from proxy.config import load
from proxy.core.dialect import Dialect
from proxy.core.translate import Translator
from proxy.metrics.observe import NULL_SINK, SessionObserver
from proxy.session.relay import Relay
from proxy.ws.frames import TEXT, encode
from proxy.ws.link import UNMASK, Link

__all__ = [
    "MemorySession",
    "MemoryTransport",
    "client_frame",
    "memory_link",
    "open_session",
    "quiet_logger",
    "server_frame",
]

_UPDATED = orjson.dumps({"type": "session.updated", "session": {"model": "bench/memory"}})


def client_frame(payload: bytes) -> bytes:
    """`payload` as one masked TEXT frame, as a client sends it."""
    return encode(TEXT, payload, key=os.urandom(4), unmask=UNMASK)


def server_frame(payload: bytes) -> bytes:
    """`payload` as one unmasked TEXT frame, as a server sends it."""
    return encode(TEXT, payload)


class MemoryTransport(asyncio.Transport):
    """A transport without a socket: counts writes and keeps the last one (all of them in
    `kept` when `keep`). A Close frame written is answered at once: the connection is then
    lost, as after a peer's answer. `backlog`: what it reports as still queued (set it to
    play a peer that stopped reading); like a real transport, it calls the protocol's
    `pause_writing` when that goes over the high-water mark (`set_write_buffer_limits`) and
    `resume_writing` when it is back at or under the low one."""

    def __init__(self, *, keep: bool = False) -> None:
        super().__init__()
        self._backlog = 0
        self._high, self._low = 64 * 1024, 16 * 1024  # asyncio's defaults
        self._writing_paused = False
        self.writes = 0
        self.last = b""
        self.kept: list[bytes] | None = [] if keep else None
        self._protocol: asyncio.BaseProtocol | None = None
        self._closing = False

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def feed(self, data: bytes) -> None:
        """One read, handed to the protocol as a socket transport would (to a native lane
        first, when the link put one in front of itself: `Link.open_lane`)."""
        cast(asyncio.Protocol, self._protocol).data_received(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        self.last = bytes(data)
        if self.kept is not None:
            self.kept.append(self.last)
        if data[0] == 0x88:  # a Close frame (FIN + opcode 8)
            self.abort()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def is_closing(self) -> bool:
        return self._closing

    def get_write_buffer_size(self) -> int:
        return self._backlog

    @property
    def backlog(self) -> int:
        """Bytes this transport reports as queued."""
        return self._backlog

    @backlog.setter
    def backlog(self, size: int) -> None:
        self._backlog = size
        self._flow()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = 64 * 1024 if high is None else high
        self._low = self._high // 4 if low is None else low
        self._flow()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def _flow(self) -> None:
        if self._protocol is None:
            return
        protocol = cast(asyncio.Protocol, self._protocol)  # a link, or the lane in front of it
        if not self._writing_paused and self._backlog > self._high:
            self._writing_paused = True
            protocol.pause_writing()
        elif self._writing_paused and self._backlog <= self._low:
            self._writing_paused = False
            protocol.resume_writing()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.abort()

    def abort(self) -> None:
        if not self._closing and self._protocol is not None:
            self._closing = True
            asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)


@dataclasses.dataclass
class MemorySession:
    """An open session: feed `client`/`upstream` reads; see what the other side got."""

    relay: Relay
    client: Link
    upstream: Link
    client_io: MemoryTransport  # what the proxy wrote to the client
    upstream_io: MemoryTransport  # what the proxy wrote to the upstream
    observer: SessionObserver


def memory_link(client_side: bool, transport: MemoryTransport, max_size: int = 1 << 24) -> Link:
    """A `Link` (no heartbeat) connected to `transport`."""
    link = Link(client_side=client_side, max_size=max_size, heartbeat=None)
    transport.set_protocol(link)
    link.connection_made(transport)
    return link


def quiet_logger() -> structlog.typing.FilteringBoundLogger:
    """A logger at INFO that writes nothing."""
    logger: structlog.typing.FilteringBoundLogger = structlog.wrap_logger(
        structlog.ReturnLogger(), wrapper_class=structlog.make_filtering_bound_logger(logging.INFO)
    )
    return logger


async def open_session(
    tg: asyncio.TaskGroup,
    *,
    observer: SessionObserver | None = None,
    log: structlog.typing.FilteringBoundLogger | None = None,
    dialect: Dialect = "ga",
    keep: bool = False,
    native_lane: bool = True,
) -> MemorySession:
    """Start a session's relay in `tg` (default configuration) and open the session: the
    upstream answers the proxy's `session.update`, so audio deltas pass unchanged from then on
    (for GA clients). `keep`: the transports keep every write. `native_lane`: as
    `server.native_lane` (False: the Python path relays everything). End it with
    `session.relay.shut_down()`; `tg` then finishes.
    """
    cfg = load(None, {})
    limits = dataclasses.replace(cfg.limits, close_timeout=1.0)
    client_io, upstream_io = MemoryTransport(keep=keep), MemoryTransport(keep=keep)
    client = memory_link(False, client_io, cfg.server.max_message_bytes)
    upstream = memory_link(True, upstream_io, cfg.server.max_message_bytes)
    opened = asyncio.Event()

    async def dial() -> Link:
        opened.set()
        return upstream

    observer = observer or SessionObserver(
        NULL_SINK, clock=time.monotonic, model_label=lambda _: "other"
    )
    log = log or quiet_logger()
    translator = Translator(cfg.rules, dialect=dialect)
    relay = Relay(client, dial, translator, log, observer, limits=limits, native_lane=native_lane)
    tg.create_task(relay.run(), name="memory-relay")
    await opened.wait()  # the relay sent its session.update and attached in the same step
    if not upstream_io.writes:
        raise AssertionError("the relay sent no session.update")
    upstream.data_received(server_frame(_UPDATED))  # the session opens
    return MemorySession(relay, client, upstream, client_io, upstream_io, observer)

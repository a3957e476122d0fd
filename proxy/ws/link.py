"""One WebSocket connection owned by the proxy once its handshake is done: the relay's socket.

aiohttp does the HTTP part (the client's upgrade; `proxy.ws.dial` does the upstream's), then
`take_over()` moves the raw transport to a `Link`. From there every frame is handled in the
transport's `data_received` callback: parsed by `proxy.ws.frames`, handed to the relay's
callbacks synchronously, and, when the relay forwards it unchanged, written to the other
transport as the exact bytes received. No task switch, queue or message object per frame.
Before any of that, a read goes to the link's native lane if the relay opened one
(`open_lane`, `proxy.ws.lane`: it becomes the transport's protocol, in front of the link): an
audio frame of the expected length is written to the other transport by C code and counted
there, and nothing else happens for it; any other read reaches `data_received`. A frame that
arrives alone in a read and starts with a prefix the relay asked for (`offer_hot`: audio) is
offered to the relay next, with only its first bytes unmasked: if taken, its payload is
never unmasked or copied.

A Link also answers pings, keeps a heartbeat (a ping after `heartbeat` seconds of silence;
nothing heard within half that again is a lost connection), reassembles fragmented messages,
enforces `max_size`, checks that TEXT messages are UTF-8 (`proxy.ws.utf8`; fragments as they
arrive), holds unfinished messages to a memory budget and a deadline (`limit`,
`proxy.ws.budget`), and runs the closing handshake (`close()`, bounded by a timeout).

When this side fails the connection (the peer broke the protocol, sent too much, or `fail()`
was called), the link stops handling frames but keeps reading: it skips what the peer is
still sending (`FrameParser.discard`) until the peer's answering Close, its EOF, `close()`'s
patience, or `max_size` bytes past the frame being skipped. Closing a socket with unread
bytes makes the kernel send a reset, which can destroy the error event and Close frame the
peer has not read yet (a "lingering close").
When one read holds several frames, what the relay writes to the `peer` link meanwhile is
held and leaves in one `writelines` call (fewer syscalls, same order).

Before the relay attaches its handler, messages wait in an inbox that `receive()` reads (the
router's setup probe uses it); `attach()` replays them in order.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import cast

from proxy.ws.budget import Budget, MessageGuard
from proxy.ws.frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Frame,
    FrameError,
    FrameParser,
    Unmask,
    close_payload,
    encode,
    parse_close,
    unmask_py,
)
from proxy.ws.lane import Lane, new_lane
from proxy.ws.utf8 import Utf8Stream, valid_utf8

try:  # aiohttp's C XOR (a private module: fall back to the pure-Python one if it moves)
    from aiohttp._websocket.helpers import websocket_mask as _c_unmask

    UNMASK: Unmask = _c_unmask
except ImportError:  # pragma: no cover
    UNMASK = unmask_py

__all__ = ["LOST", "Link", "OnBinary", "OnClosed", "OnHot", "OnMessage", "take_over"]

LOST = 1006  # the connection ended without a Close frame
# Transports known to be one plain socket written in order: uvloop's TCP transport and
# asyncio's (a native lane may then send on the socket while they hold nothing queued).
_PLAIN_TCP_TRANSPORTS = frozenset({"TCPTransport", "_SelectorSocketTransport"})


OnMessage = Callable[[bytes, "bytes | None"], None]
"""A TEXT message: (payload, its single frame's exact bytes, or None if reassembled)."""
OnBinary = Callable[[bytes], None]
"""A BINARY message."""
OnHot = Callable[[bytes, int], bool]
"""A hot message's frame, offered before its payload is unmasked or copied: (the frame's exact
bytes, its payload's length) -> True if taken, False to have it delivered as usual."""
OnClosed = Callable[[int, str, bool], None]
"""(code, reason, broken): the peer closed (`code` from its Close frame, 1006 if it
vanished), or, with `broken`, this side failed the connection: the peer broke the protocol
(1002, 1007 invalid UTF-8, 1009 too big), left a message unfinished past its deadline (1008),
a message did not fit in the memory budget (1013), or the owner called `fail()`. Called once,
and not for the peer's answer to a close this side started."""


class Link(asyncio.Protocol):
    """One WebSocket connection after its handshake.

    Args:
        client_side: this end is the WebSocket client (the upstream link): outgoing frames
            are masked and incoming ones must not be.
        max_size: the largest message accepted (bigger: `closed(..., 1009, broken=True)`).
        heartbeat: seconds of silence before a ping; None: no heartbeat.
        pong_backlog: no PONG while more than this is queued towards the peer (one that pings
            but never reads would grow the buffer without bound); set it above the relay's
            `limits.max_queued_bytes`, which ends a slow reader's session first.
    """

    # Slots, not a __dict__: one Link per connection, two per session (idle sessions count).
    __slots__ = (
        "_broken", "_check_frames", "_client_side", "_guard", "_heard", "_heartbeat", "_held",
        "_hot", "_hot_head", "_inbox", "_inbox_waiter", "_inner", "_lane_seen", "_linger_left",
        "_lost", "_lost_exc", "_max", "_on_binary", "_on_closed", "_on_hot", "_on_message",
        "_parser", "_parts", "_parts_opcode", "_parts_size", "_paused", "_pong_backlog",
        "_released", "_timer", "_transport", "_utf8", "close_received", "close_sent", "ended",
        "lane", "peer", "write_paused",
    )  # fmt: skip

    def __init__(
        self,
        *,
        client_side: bool,
        max_size: int,
        heartbeat: float | None,
        pong_backlog: int = 8 << 20,
    ) -> None:
        self._pong_backlog = pong_backlog
        self._client_side = client_side
        self._max = max_size
        self._heartbeat = heartbeat
        self._parser = FrameParser(masked=not client_side, max_size=max_size, unmask=UNMASK)
        self._transport: asyncio.Transport | None = None
        self._on_message: OnMessage | None = None
        self._on_hot: OnHot | None = None
        self._hot: tuple[bytes, ...] = ()  # prefixes of the messages offered to `_on_hot`
        self._hot_head = 0  # the longest of them
        self._on_binary: OnBinary = _ignore
        self._on_closed: OnClosed = _ignore_close
        self._inbox: list[tuple[int, bytes, bytes | None]] = []
        self._inbox_waiter: asyncio.Future[None] | None = None
        self._parts: list[bytes] = []
        self._parts_opcode = 0
        self._parts_size = 0
        self._heard = True  # something arrived since the last heartbeat tick
        self._paused = False  # the owner paused reading (the heartbeat waits)
        self._timer: asyncio.TimerHandle | None = None
        self._lost: asyncio.Future[None] | None = None
        self._inner: asyncio.BaseProtocol | None = None  # aiohttp's protocol, told on release
        self.peer: Link | None = None  # the relay's other link: its writes are batched per read
        self._held: list[bytes] | None = None  # writes held until the peer's read is handled
        self._released = False
        self._lost_exc: Exception | None = None
        self.close_sent: int | None = None  # the code this side sent
        # the peer's Close frame ((1005, "") for a malformed one: nothing more will come)
        self.close_received: tuple[int, str] | None = None
        self.ended: tuple[int, str] | None = None  # what `closed()` reported (or would have)
        self._broken = False
        self._check_frames = True  # check single-frame TEXT messages' UTF-8 (see `attach`)
        self._utf8 = Utf8Stream()  # the fragmented TEXT message in progress
        self._guard: MessageGuard | None = None  # budget and deadline (`limit`)
        self._linger_left = 0  # bytes still read and skipped after this side failed
        self.lane: Lane | None = None  # sees every read first (`open_lane`)
        self._lane_seen = 0  # its count at the last heartbeat tick
        self.write_paused = False  # more than the high-water mark is queued towards the peer

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        if self._heartbeat:
            self._timer = loop.call_later(self._heartbeat, self._tick)

    def data_received(self, data: bytes) -> None:
        try:  # free when nothing is raised; a failing callback must not kill the transport
            self._heard = True
            if self.ended is not None:  # closed or lost: nothing more is read; failed: skipped
                if self._broken:
                    self._linger(data)
                return
            on_message = self._on_message
            if on_message is not None and not self._parts:
                on_hot = self._on_hot
                if on_hot is not None:
                    length = self._parser.hot_text(data, self._hot, self._hot_head)
                    if length >= 0 and on_hot(data, length):
                        return
                payload = self._parser.single_text(data)
                if payload is not None:
                    if self._check_frames and not valid_utf8(payload):
                        self._end(1007, "invalid UTF-8 in a text message", broken=True)
                        return
                    on_message(payload, data)
                    return
            error: FrameError | None = None
            try:
                frames = self._parser.feed(data)
            except FrameError as exc:
                error, frames = exc, exc.frames  # what came before the bad frame goes first
            peer = self.peer
            if peer is not None and len(frames) > 1:
                peer._held = peer._held or []  # one write for all that this read makes it send
                try:
                    self._handle(frames)
                finally:
                    peer._flush()
            else:
                self._handle(frames)
            if error is not None:
                if error.closing:  # a bad Close frame is still the peer's last one
                    self.close_received = (1005, "")
                self._end(error.code, error.reason, broken=True)
            elif self._guard is not None and self.ended is None:
                self._account(self._guard)
        except Exception as exc:  # a bug in the owner's callbacks: end the session cleanly
            self._end(1011, "internal error", broken=True)
            asyncio.get_running_loop().call_exception_handler(
                {"message": "WebSocket message handling failed", "exception": exc, "protocol": self}
            )

    def _handle(self, frames: list[Frame]) -> None:
        for opcode, fin, payload, raw in frames:
            if self.ended is not None:  # an owner's callback failed or closed the link
                return
            if opcode == TEXT and fin and not self._parts:
                if self._check_frames and not valid_utf8(payload):
                    self._end(1007, "invalid UTF-8 in a text message", broken=True)
                    return
                if (on_message := self._on_message) is not None:
                    on_message(payload, raw)
                else:
                    self._deliver(TEXT, payload, raw)
            elif opcode >= CLOSE:
                if not self._control(opcode, payload):
                    return
            elif not self._fragment(opcode, fin, payload):
                return

    def pause_writing(self) -> None:
        """The transport queues more than its high-water mark (`limit_writes`): the peer's
        lane stops writing here, so that each frame for this link takes the checked path."""
        self.write_paused = True
        peer = self.peer
        if peer is not None and peer.lane is not None:
            peer.lane.write = None

    def resume_writing(self) -> None:
        """The queue is back under the low-water mark (the relay re-arms the lane)."""
        self.write_paused = False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        self._end(LOST, "", broken=False)
        self._lost_exc = exc
        if self._released and self._inner is not None:
            self._inner.connection_lost(exc)
            self._inner = None

    # -- receiving ------------------------------------------------------------------------

    def _control(self, opcode: int, payload: bytes) -> bool:
        """Handle a control frame; False once the link stops reading."""
        if opcode == PING:
            if self.buffered() <= self._pong_backlog:
                self._write(encode(PONG, payload, key=self._key(), unmask=UNMASK))
        elif opcode == CLOSE:
            try:
                code, reason = parse_close(payload)
            except FrameError as exc:
                self.close_received = (1005, "")  # malformed, but the peer's last frame
                self._end(exc.code, exc.reason, broken=True)
                return False
            self.close_received = (code, reason)
            if self.close_sent is not None and self._transport is not None:
                self._transport.close()  # our close, answered: the handshake is complete
            self._end(code, reason, broken=False)
            return False
        return True  # PONG: hearing it was the point

    def _fragment(self, opcode: int, fin: bool, payload: bytes) -> bool:
        """Collect a fragmented message; False once the link stops reading."""
        if (opcode == CONTINUATION) is not bool(self._parts):
            self._end(1002, "unexpected continuation frame", broken=True)
            return False
        if opcode != CONTINUATION:
            self._parts_opcode = opcode
        self._parts.append(payload)
        self._parts_size += len(payload)
        if self._parts_size > self._max:
            self._end(1009, "message too big", broken=True)
            return False
        if self._parts_opcode == TEXT and not self._utf8.feed(payload, fin):
            self._end(1007, "invalid UTF-8 in a text message", broken=True)
            return False
        if fin:
            message = b"".join(self._parts)
            self._parts, self._parts_size = [], 0
            self._deliver(self._parts_opcode, message, None)
        return True

    def _deliver(self, opcode: int, payload: bytes, raw: bytes | None) -> None:
        if self._on_message is None:
            self._inbox.append((opcode, payload, raw))
            self._wake()
        elif opcode == TEXT:
            self._on_message(payload, raw)
        else:
            self._on_binary(payload)

    def _end(self, code: int, reason: str, *, broken: bool) -> None:
        if self.ended is not None:
            return
        self.ended = (code, reason)
        self._broken = broken
        self._disarm()
        self._parts, self._parts_size = [], 0
        if self._guard is not None:
            self._guard.close()
        if broken:  # skip whatever the peer still sends, until it answers (module docstring)
            self._closes(self._parser.discard())
            self._linger_left = self._parser.skipping + self._max
        if self.close_sent is not None and not broken:
            return  # the answer to our own close (or the loss after it): nothing to report
        if self._on_message is not None:
            self._on_closed(code, reason, broken)
        else:
            self._inbox.append((CLOSE, b"", None))
            self._wake()

    def _wake(self) -> None:
        waiter = self._inbox_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _account(self, guard: MessageGuard) -> None:
        """Tell the guard how much the unfinished message needs now; over budget: 1013."""
        if not guard.update(self._parser.unfinished + self._parts_size):
            self._end(1013, "message buffers full, try again later", broken=True)

    def _linger(self, data: bytes) -> None:
        """After this side failed: skip `data`, watching for the peer's Close (then, once
        ours is sent too, close); give up once `max_size` bytes past the skipped frame."""
        transport = self._transport
        assert transport is not None
        self._linger_left -= len(data)
        self._closes(self._parser.feed(data))  # only Close frames come out now
        if self.close_received is None and self._linger_left >= 0:
            return
        if self.close_sent is not None:
            transport.close()
        elif self._linger_left < 0:  # enough: `close()` sends the Close frame, then closes
            transport.pause_reading()

    def _closes(self, frames: list[Frame]) -> None:
        """Note the peer's Close among frames skipped after this side failed."""
        if frames and self.close_received is None:
            try:
                self.close_received = parse_close(frames[0].payload)
            except FrameError:
                self.close_received = (1005, "")  # a malformed answer is still one

    def _guard_expired(self) -> bool:
        """`limits.message_timeout` passed with a message unfinished: fail the link, unless
        the owner paused the reads (then the peer could not have finished it)."""
        if self.ended is not None:
            return True
        if self._paused:
            return False
        self._end(1008, "message not finished in time", broken=True)
        return True

    def _tick(self) -> None:
        """Heartbeat: every `heartbeat` s; a quiet peer gets a ping and half that to answer."""
        assert self._heartbeat is not None
        assert self._transport is not None
        if self.ended is not None or self.close_sent is not None:
            return
        loop = asyncio.get_running_loop()
        moved = self._lane_moved()
        if self._heard or self._paused or moved:  # paused: the owner holds the reads
            self._heard = False
            self._timer = loop.call_later(self._heartbeat, self._tick)
            return
        self._write(encode(PING, b"", key=self._key(), unmask=UNMASK))
        self._timer = loop.call_later(self._heartbeat / 2, self._check_pong)

    def _lane_moved(self) -> bool:
        """Frames came through the lane since the last tick (they count as heard)."""
        lane = self.lane
        if lane is None or lane.count == self._lane_seen:
            return False
        self._lane_seen = lane.count
        return True

    def _check_pong(self) -> None:
        assert self._heartbeat is not None
        assert self._transport is not None
        if self.ended is not None or self.close_sent is not None:
            return
        moved = self._lane_moved()
        if self._heard or self._paused or moved:
            self._heard = False
            self._timer = asyncio.get_running_loop().call_later(self._heartbeat, self._tick)
            return
        transport = self._transport
        self._end(LOST, "heartbeat missed", broken=False)
        transport.abort()

    # -- the owner's API ------------------------------------------------------------------

    def attach(
        self,
        message: OnMessage,
        binary: OnBinary,
        closed: OnClosed,
        *,
        check_frames: bool = True,
    ) -> None:
        """Hand every later event to these callbacks, after replaying the inbox in order.

        `check_frames=False`: a TEXT message that arrives as one frame (`raw` given) reaches
        `message` without its UTF-8 checked: the owner checks the ones it parses or forwards
        (and calls `fail(1007, ...)`), which lets it skip the audio it forwards unparsed.
        Reassembled messages are always checked, fragment by fragment.
        """
        self._check_frames = check_frames
        inbox, self._inbox = self._inbox, []
        self._on_message, self._on_binary, self._on_closed = message, binary, closed
        for opcode, payload, raw in inbox:
            if opcode == CLOSE:
                assert self.ended is not None
                closed(*self.ended, self._broken)
            elif opcode == TEXT:
                message(payload, raw)
            else:
                binary(payload)

    def offer_hot(self, prefixes: tuple[bytes, ...], take: OnHot) -> None:
        """After `attach()`: offer each message that arrives alone in one read, as one TEXT
        frame whose payload starts with one of `prefixes`, to `take(raw, length)` before its
        payload is unmasked or copied (the relay's hot lane); a message `take` declines goes
        to the message callback as usual. Call again to change the prefixes; () offers none.
        No effect after `detach()`.
        """
        if self._on_message is _drop:
            return
        self._hot, self._hot_head = prefixes, max(map(len, prefixes), default=0)
        self._on_hot = take if prefixes else None

    def open_lane(self, prefixes: tuple[bytes, ...]) -> Lane | None:
        """Put a native lane (`proxy.ws.lane`) for frames starting with `prefixes` in front of
        this link, as its transport's protocol; disarmed: the owner arms it by setting its
        `write` (the other link's `writer`) and `length`. None (and no lane) when the extension
        is not built or the link is closing."""
        transport = self._transport
        if transport is None or transport.is_closing() or self.ended is not None:
            return None
        lane = new_lane(prefixes, masked=not self._client_side, max_size=self._max, target=self)
        if lane is not None:
            transport.set_protocol(cast(asyncio.BaseProtocol, lane))
        self.lane = lane
        return lane

    def lend_socket(self, lane: Lane) -> None:
        """Let the other link's `lane` send to this link's socket itself (`Lane.direct`), if
        it is plain TCP on a known transport: never under TLS, where only the transport may
        write. The descriptor stays the transport's, which closes it only after
        `connection_lost`: that ends this link, and ending releases the lane (`_disarm`)."""
        transport = self._transport
        if transport is None or transport.is_closing() or self.ended is not None:
            return
        if type(transport).__name__ not in _PLAIN_TCP_TRANSPORTS:
            return
        if transport.get_extra_info("sslcontext") or transport.get_extra_info("ssl_object"):
            return
        sock = transport.get_extra_info("socket")
        if sock is None or sock.fileno() < 0:
            return
        lane.direct(sock.fileno(), transport.get_write_buffer_size)

    @property
    def writer(self) -> Callable[[bytes], object] | None:
        """The transport's own `write`, for the other link's lane; None once closing."""
        transport = self._transport
        return None if transport is None or transport.is_closing() else transport.write

    def limit_writes(self, high: int) -> None:
        """Call `pause_writing` once more than `high` bytes are queued towards the peer."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.set_write_buffer_limits(high=high)

    @property
    def offered(self) -> tuple[bytes, ...]:
        """The prefixes offered to the hot lane now (`offer_hot`); () when none."""
        return self._hot if self._on_hot is not None else ()

    def limit(self, budget: Budget | None, message_timeout: float | None) -> None:
        """Count unfinished messages against `budget` (over it: 1013) and give each message
        `message_timeout` seconds from its first byte to its last (then: 1008); see
        `proxy.ws.budget`. Frames that arrive whole in one read are neither counted nor timed."""
        if self._guard is not None:
            self._guard.close()
        guard = self._guard = MessageGuard(budget, message_timeout, self._guard_expired)
        if self.ended is None:
            self._account(guard)

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection as if this side had found the peer breaking the protocol
        (e.g. 1007 for a message the owner found not to be UTF-8): `closed(code, reason,
        True)` follows at once, and the link skips what the peer still sends."""
        self._end(code, reason, broken=True)

    def detach(self) -> None:
        """Drop every later message and end (the owner is closing the link)."""
        self._disarm()
        self._inbox.clear()
        self._on_hot, self._hot = None, ()
        self._on_message, self._on_binary, self._on_closed = _drop, _ignore, _ignore_close

    async def receive(self) -> tuple[int, bytes]:
        """The next message before `attach()`: (TEXT | BINARY, payload), or (CLOSE, b"")."""
        while not self._inbox:
            if self.ended is not None:
                return CLOSE, b""  # the end was already read
            self._inbox_waiter = asyncio.get_running_loop().create_future()
            await self._inbox_waiter
        opcode, payload, _ = self._inbox.pop(0)
        return opcode, payload

    def send_text(self, payload: bytes) -> None:
        """Write one TEXT frame (masked on the client side); dropped once closing."""
        self._write(encode(TEXT, payload, key=self._key(), unmask=UNMASK))

    def send_binary(self, payload: bytes) -> None:
        """Write one BINARY frame (masked on the client side); dropped once closing."""
        self._write(encode(BINARY, payload, key=self._key(), unmask=UNMASK))

    def forward(self, raw: bytes, limit: int) -> bool:
        """Write a frame received on the other link, as is (see `proxy.ws.frames`), unless more
        than `limit` bytes are still queued: then write nothing and return False (the peer
        reads too slowly). Dropped once closing. One call: this is the hot path."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return True
        if transport.get_write_buffer_size() > limit:
            return False
        if self._held is not None:
            self._held.append(raw)
            return True
        try:  # noqa: SIM105 (contextlib.suppress costs a call per frame)
            transport.write(raw)
        except RuntimeError:  # uvloop: closed under our feet
            pass
        return True

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel."""
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def pause_reading(self) -> None:
        """Stop reading from the socket (the kernel buffers, then the peer waits)."""
        if self._transport is not None and not self._transport.is_closing():
            self._paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read again after `pause_reading()`."""
        if self._transport is not None and not self._transport.is_closing():
            self._paused = False
            self._transport.resume_reading()

    @property
    def closed(self) -> bool:
        """The connection is gone (or going)."""
        return self._transport is None or self._transport.is_closing()

    async def close(self, code: int, reason: str, patience: float) -> None:
        """Send a Close frame (once) and wait, at most `patience` s, for the connection to end.

        A peer that never answers (or stopped reading) has its connection aborted.
        """
        self._disarm()  # nothing may follow the Close frame
        transport, lost = self._transport, self._lost
        if transport is None or lost is None:
            return
        if self._paused:  # the peer's answer must be read (later messages are dropped)
            self.resume_reading()
        if self.close_sent is None and not lost.done():
            self.close_sent = code
            self._write(encode(CLOSE, close_payload(code, reason), key=self._key(), unmask=UNMASK))
        if self.close_received is not None or (
            self.ended is not None and (not self._broken or self._linger_left < 0)
        ):
            transport.close()  # handshake complete, the peer is gone, or it sent too much
        # Else, failed by this side: the peer's answer is awaited while its data is skipped.
        try:
            async with asyncio.timeout(patience):
                await asyncio.shield(lost)
        except TimeoutError:
            transport.abort()
        if transport.get_write_buffer_size():
            transport.abort()

    def abort(self) -> None:
        """Drop the connection now (no lane writes to or from it any more)."""
        self._disarm()
        if self._transport is not None:
            self._transport.abort()

    def release(self) -> None:
        """The owner is done: hand the end of the connection back to the original protocol
        (aiohttp's, for the client link) so it can clean up after itself."""
        self._released = True
        if self._lost is not None and self._lost.done() and self._inner is not None:
            inner, self._inner = self._inner, None
            inner.connection_lost(self._lost_exc)

    # -- writing --------------------------------------------------------------------------

    def _disarm(self) -> None:
        """No lane writes from or to this link any more (it is ending or detached), nor sends
        on its socket (`Lane.release`)."""
        if self.lane is not None:
            self.lane.release()
        peer = self.peer
        if peer is not None and peer.lane is not None:
            peer.lane.release()

    def _key(self) -> bytes | None:
        return os.urandom(4) if self._client_side else None

    def _write(self, data: bytes) -> None:
        if self._held is not None:
            self._held.append(data)
            return
        transport = self._transport
        if transport is not None and not transport.is_closing():
            try:  # noqa: SIM105 (contextlib.suppress costs a call per frame)
                transport.write(data)
            except RuntimeError:  # uvloop: closed under our feet
                pass

    def _flush(self) -> None:
        """Write what was held while the peer handled one read (one syscall for all)."""
        held, self._held = self._held, None
        transport = self._transport
        if held and transport is not None and not transport.is_closing():
            try:  # noqa: SIM105 (see _write)
                transport.writelines(held)
            except RuntimeError:  # uvloop: closed under our feet
                pass


def _ignore(_: bytes) -> None:
    return None


def _drop(_payload: bytes, _raw: bytes | None) -> None:
    return None


def _ignore_close(_code: int, _reason: str, _broken: bool) -> None:
    return None


def take_over(transport: asyncio.Transport, link: Link, leftover: bytes = b"") -> None:
    """Make `link` the protocol of `transport` (opened and upgraded by someone else).

    `leftover`: bytes already received after the handshake. Must be called without awaiting
    between the handshake's end and this call; reading is resumed here.
    """
    link._inner = transport.get_protocol()
    transport.set_protocol(link)
    link.connection_made(transport)
    if leftover:
        link.data_received(leftover)
    if not transport.is_closing():  # a link that failed on `leftover` still reads (lingers)
        transport.resume_reading()

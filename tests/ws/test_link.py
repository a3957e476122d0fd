"""The transport-level WebSocket link (`proxy.ws.link`) on real loopback TCP sockets.

Each test puts a `Link` on one end of a connected TCP pair (via `take_over`, as the relay
does after a handshake) and drives the other end with raw frames from `proxy.ws.frames`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from proxy.ws.frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Frame,
    FrameParser,
    close_payload,
    encode,
    parse_close,
)
from proxy.ws.link import Link, take_over

TIMEOUT = 5
SIDES = pytest.mark.parametrize("client_side", [False, True], ids=["server_side", "client_side"])


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected loopback TCP sockets (non-blocking)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        a = socket.create_connection(listener.getsockname())
        b, _ = listener.accept()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def not_fin(frame: bytes) -> bytes:
    """`frame` with its FIN bit cleared."""
    return bytes((frame[0] & 0x7F,)) + frame[1:]


class Inner(asyncio.Protocol):
    """The protocol the transport had before the take-over (aiohttp's, in the proxy)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.lost_calls: list[Exception | None] = []
        self.lost = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_calls.append(exc)
        self.lost.set()


class Peer(asyncio.Protocol):
    """The far end: sends raw frames and parses what the link sends."""

    def __init__(self, *, link_client_side: bool) -> None:
        self.masking = not link_client_side  # the peer of a server-side link is a client
        self.parser = FrameParser(masked=link_client_side, max_size=1 << 20)
        self.frames: list[Frame] = []
        self.read = 0
        self.changed = asyncio.Event()
        self.eof = asyncio.Event()
        self.gone = asyncio.Event()
        self.answer_pings = False
        self.answer_close = False
        self.drained = asyncio.Event()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        for frame in self.parser.feed(data):  # FrameError here: the link masked wrongly
            self.frames.append(frame)
            if frame.opcode == PING and self.answer_pings:
                self.send(PONG, frame.payload)
            if frame.opcode == CLOSE and self.answer_close:
                self.send(CLOSE, frame.payload)
        self.changed.set()

    def eof_received(self) -> bool:
        self.eof.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone.set()

    def pause_writing(self) -> None:
        self.drained.clear()

    def resume_writing(self) -> None:
        self.drained.set()

    def frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
        """A frame as this peer must send it (masked when it is the client)."""
        data = encode(opcode, payload, key=os.urandom(4) if self.masking else None)
        return data if fin else not_fin(data)

    def send(self, opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
        data = self.frame(opcode, payload, fin=fin)
        self.write(data)
        return data

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def next(self) -> Frame:
        """The next frame from the link."""
        while self.read == len(self.frames):
            self.changed.clear()
            await self.changed.wait()
        self.read += 1
        return self.frames[self.read - 1]

    async def sync(self) -> None:
        """Wait until the link has handled everything sent so far (a PING, then its PONG)."""
        token = os.urandom(8)
        self.send(PING, token)
        while (frame := await self.next()).opcode != PONG:
            pass
        assert frame.payload == token


class Events:
    """The relay's side: records the link's callbacks."""

    def __init__(self) -> None:
        self.items: list[tuple[object, ...]] = []
        self.read = 0
        self.changed = asyncio.Event()

    def message(self, payload: bytes, raw: bytes | None) -> None:
        self.items.append(("text", payload, raw))
        self.changed.set()

    def binary(self, payload: bytes) -> None:
        self.items.append(("binary", payload))
        self.changed.set()

    def closed(self, code: int, reason: str, broken: bool) -> None:
        self.items.append(("closed", code, reason, broken))
        self.changed.set()

    def attach(self, link: Link) -> None:
        link.attach(self.message, self.binary, self.closed)

    take = True  # what `hot` answers

    def hot(self, raw: bytes, length: int) -> bool:
        self.items.append(("hot", raw, length, self.take))
        self.changed.set()
        return self.take

    async def next(self) -> tuple[object, ...]:
        while self.read == len(self.items):
            self.changed.clear()
            await self.changed.wait()
        self.read += 1
        return self.items[self.read - 1]

    async def none_within(self, seconds: float) -> None:
        """Assert that no callback comes within `seconds`."""
        self.changed.clear()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), seconds)
        assert self.read == len(self.items), self.items[self.read :]


@dataclass
class Pair:
    link: Link
    transport: asyncio.Transport  # the link's
    inner: Inner
    peer: Peer


@asynccontextmanager
async def linked(
    *,
    client_side: bool,
    max_size: int = 1 << 16,
    heartbeat: float | None = None,
    pong_backlog: int = 8 << 20,
    leftover: bytes = b"",
) -> AsyncIterator[Pair]:
    """A Link on one end of a TCP pair, a Peer on the other; everything closed on exit."""
    fds = fd_count()
    loop = asyncio.get_running_loop()
    mine, theirs = tcp_pair()
    inner = Inner()
    transport, _ = await loop.create_connection(lambda: inner, sock=mine)
    transport.pause_reading()  # as aiohttp's protocol is paused at the end of a handshake
    link = Link(
        client_side=client_side, max_size=max_size, heartbeat=heartbeat, pong_backlog=pong_backlog
    )
    take_over(transport, link, leftover)
    peer = Peer(link_client_side=client_side)
    await loop.create_connection(lambda: peer, sock=theirs)
    try:
        yield Pair(link, transport, inner, peer)
    finally:
        async with asyncio.timeout(TIMEOUT):
            link.release()
            link.abort()
            assert peer.transport is not None
            peer.transport.abort()
            await inner.lost.wait()
            await peer.gone.wait()
            await asyncio.sleep(0)  # the transports close their sockets after connection_lost
        assert not inner.data, "bytes reached the inner protocol after the take-over"
        assert fd_count() == fds


# -- messages -------------------------------------------------------------------------------


@SIDES
async def test_receive_reads_messages_before_attach(client_side: bool) -> None:
    """Before attach, receive() gives TEXT, BINARY, a reassembled message, then CLOSE."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=client_side) as pair:
        peer, link = pair.peer, pair.link
        peer.send(TEXT, b"first")
        peer.send(BINARY, b"\x00\x01")
        peer.send(TEXT, b"fra", fin=False)
        peer.send(PING, b"")  # a control frame between fragments is allowed
        peer.send(CONTINUATION, b"gm", fin=False)
        peer.send(CONTINUATION, b"ent")
        peer.send(CLOSE, close_payload(1000, "bye"))
        assert await link.receive() == (TEXT, b"first")
        assert await link.receive() == (BINARY, b"\x00\x01")
        assert await link.receive() == (TEXT, b"fragment")
        assert await link.receive() == (CLOSE, b"")
        assert link.close_received == (1000, "bye")


async def test_attach_replays_unread_messages_in_order() -> None:
    """attach() replays what receive() did not read, in order, then delivers live."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=False) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        peer.send(TEXT, b"probe")
        one = peer.send(TEXT, b"one")
        peer.send(BINARY, b"two")
        peer.send(TEXT, b"thr", fin=False)
        peer.send(CONTINUATION, b"ee")
        await peer.sync()  # all of it is in the inbox now
        assert await link.receive() == (TEXT, b"probe")
        events.attach(link)
        assert events.items == [
            ("text", b"one", one),
            ("binary", b"two"),
            ("text", b"three", None),
        ]
        four = peer.send(TEXT, b"four")
        assert await events.next() == ("text", b"one", one)
        assert await events.next() == ("binary", b"two")
        assert await events.next() == ("text", b"three", None)
        assert await events.next() == ("text", b"four", four)


async def test_attach_replays_leftover_and_close() -> None:
    """Frames in take_over's leftover, a Close included, are replayed by attach()."""
    peer = Peer(link_client_side=True)
    hello = peer.frame(TEXT, b"hello")
    leftover = hello + peer.frame(BINARY, b"\xff") + peer.frame(CLOSE, close_payload(4000, "done"))
    async with asyncio.timeout(TIMEOUT), linked(client_side=True, leftover=leftover) as pair:
        events = Events()
        events.attach(pair.link)
        assert events.items == [
            ("text", b"hello", hello),
            ("binary", b"\xff"),
            ("closed", 4000, "done", False),
        ]


@SIDES
async def test_live_messages_go_to_their_callbacks(client_side: bool) -> None:
    """A TEXT frame carries its exact bytes; fragments arrive joined with no raw; BINARY apart."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=client_side, max_size=1 << 20) as pair:
        peer, events = pair.peer, Events()
        events.attach(pair.link)
        text = peer.send(TEXT, b'{"type":"x"}' * 20)
        assert await events.next() == ("text", b'{"type":"x"}' * 20, text)
        big = peer.send(TEXT, b"y" * 70000)  # 64-bit length, arrives in several reads
        assert await events.next() == ("text", b"y" * 70000, big)
        peer.send(TEXT, b"a", fin=False)
        peer.send(CONTINUATION, b"b", fin=False)
        peer.send(CONTINUATION, b"c")
        assert await events.next() == ("text", b"abc", None)
        peer.send(BINARY, b"", fin=False)
        peer.send(CONTINUATION, b"\x01\x02")
        peer.send(BINARY, b"\x03")
        assert await events.next() == ("binary", b"\x01\x02")
        assert await events.next() == ("binary", b"\x03")


@SIDES
async def test_offered_hot_messages_are_offered_first(client_side: bool) -> None:
    """A lone frame starting with an offered prefix goes to the hot callback with its exact
    bytes and payload length; one it declines, and any other, to the message callback;
    `offer_hot(())` and `detach()` end the offers (and none starts after `detach()`)."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=client_side) as pair:
        peer, events = pair.peer, Events()
        events.attach(pair.link)
        pair.link.offer_hot((b"hot:", b"warm:"), events.hot)
        raw = peer.send(TEXT, b"hot:1")
        assert await events.next() == ("hot", raw, 5, True)
        raw = peer.send(TEXT, b"warm:22")
        assert await events.next() == ("hot", raw, 7, True)
        raw = peer.send(TEXT, b"cold:1")
        assert await events.next() == ("text", b"cold:1", raw)
        events.take = False
        raw = peer.send(TEXT, b"hot:declined")
        assert await events.next() == ("hot", raw, 12, False)
        assert await events.next() == ("text", b"hot:declined", raw)
        pair.link.offer_hot((), events.hot)
        raw = peer.send(TEXT, b"hot:2")
        assert await events.next() == ("text", b"hot:2", raw)
        pair.link.offer_hot((b"hot:",), events.hot)
        assert pair.link.offered == (b"hot:",)
        pair.link.detach()
        pair.link.offer_hot((b"hot:",), events.hot)  # too late: no effect
        assert pair.link.offered == ()
        peer.send(TEXT, b"hot:3")
        await peer.sync()  # handled (and dropped) before the PONG
        assert events.read == len(events.items)


@SIDES
async def test_ping_gets_pong_with_its_payload(client_side: bool) -> None:
    """A PING is answered by a PONG with the same payload, masked only from the client side."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=client_side) as pair:
        peer, events = pair.peer, Events()
        events.attach(pair.link)
        for payload in (b"", b"ping!", os.urandom(125)):
            peer.send(PING, payload)
            pong = await peer.next()  # the peer's parser rejects a wrongly masked frame
            assert (pong.opcode, pong.payload) == (PONG, payload)
            assert bool(pong.raw[1] & 0x80) is client_side
        assert events.items == []


# -- closing --------------------------------------------------------------------------------


@SIDES
async def test_peer_close_reported_once_then_answered(client_side: bool) -> None:
    """The peer's Close is reported once; close() answers it and the connection ends at once."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=client_side) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        link.release()
        events.attach(link)
        peer.send(CLOSE, close_payload(1001, "going away"))
        assert await events.next() == ("closed", 1001, "going away", False)
        start = time.monotonic()
        await link.close(1001, "going away", patience=5)
        assert time.monotonic() - start < 1
        answer = await peer.next()
        assert answer.opcode == CLOSE
        assert parse_close(answer.payload) == (1001, "going away")
        await peer.eof.wait()
        await pair.inner.lost.wait()
        await link.close(1000, "again", patience=5)  # a second close sends nothing more
        assert len(peer.frames) == 1
        assert events.items == [("closed", 1001, "going away", False)]
        assert link.closed


@SIDES
async def test_our_close_answered(client_side: bool) -> None:
    """close() sends a Close; the peer's answer ends the connection; nothing is reported."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=client_side) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(link.close(4001, "bye now", patience=5))
            tasks.create_task(link.close(1000, "twice", patience=5))  # sends nothing more
            sent = await peer.next()
            assert sent.opcode == CLOSE
            assert parse_close(sent.payload) == (4001, "bye now")
            assert bool(sent.raw[1] & 0x80) is client_side
            start = time.monotonic()
            peer.send(CLOSE, sent.payload)
        assert time.monotonic() - start < 1
        await peer.gone.wait()
        assert [f.opcode for f in peer.frames] == [CLOSE]
        assert link.close_sent == 4001
        assert link.close_received == (4001, "bye now")
        assert events.items == []


async def test_our_close_unanswered_aborts_after_patience() -> None:
    """A peer that never answers the Close has its connection aborted after `patience`."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=True) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        start = time.monotonic()
        await link.close(1000, "", patience=0.2)
        elapsed = time.monotonic() - start
        assert 0.19 <= elapsed < 2
        assert (await peer.next()).opcode == CLOSE
        assert link.closed
        await peer.gone.wait()
        assert events.items == []


# -- protocol errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_side", "frames", "code"),
    [
        (False, [(TEXT, b"x" * 101, True)], 1009),
        (True, [(BINARY, b"x" * 101, True)], 1009),
        (False, [(TEXT, b"x" * 60, False), (CONTINUATION, b"x" * 60, True)], 1009),
        (False, [(CONTINUATION, b"orphan", True)], 1002),
        (True, [(TEXT, b"a", False), (TEXT, b"b", True)], 1002),
        (False, [(CLOSE, b"\x03", True)], 1002),
        (False, [(CLOSE, (1006).to_bytes(2, "big"), True)], 1002),
        (True, [(CLOSE, b"\x03\xe8\xc3", True)], 1007),
    ],
    ids=[
        "frame-too-big",
        "frame-too-big-client",
        "message-too-big",
        "orphan-continuation",
        "interleaved-message",
        "one-byte-close",
        "reserved-close-code",
        "close-reason-not-utf8",
    ],
)
async def test_protocol_errors_break_the_link(
    client_side: bool, frames: list[tuple[int, bytes, bool]], code: int
) -> None:
    """A peer breaking the rules gets closed(code, ..., broken=True) once, then nothing more
    is handled; the link closes the connection once the peer answers its Close."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=client_side, max_size=100) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        for opcode, payload, fin in frames:
            peer.send(opcode, payload, fin=fin)
        kind, got, reason, broken = await events.next()
        assert (kind, got, broken) == ("closed", code, True)
        assert reason
        peer.send(TEXT, b"after")
        peer.send(PING, b"after")
        await events.none_within(0.2)
        assert peer.frames == []  # no PONG: what follows is skipped, not handled
        peer.answer_close = True
        await link.close(code, str(reason), patience=TIMEOUT * 2)  # the answer ends it
        answer = await peer.next()
        assert (answer.opcode, parse_close(answer.payload)) == (CLOSE, (code, reason))
        await peer.gone.wait()
        assert len(events.items) == 1


@pytest.mark.parametrize(
    ("client_side", "masked", "reason"),
    [(False, False, "unmasked frame"), (True, True, "masked frame")],
)
async def test_wrong_masking_is_1002(client_side: bool, masked: bool, reason: str) -> None:
    """An unmasked frame to a server-side link, or a masked one to a client-side link: 1002."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=client_side) as pair:
        peer, events = pair.peer, Events()
        events.attach(pair.link)
        peer.write(encode(TEXT, b"hi", key=os.urandom(4) if masked else None))
        assert await events.next() == ("closed", 1002, reason, True)
        peer.send(TEXT, b"fine now")
        await events.none_within(0.2)


# -- losing the peer ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_peer_vanishing_is_1006(how: str) -> None:
    """A peer whose TCP connection ends without a Close gives closed(1006, "", False) once."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=True) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        link.release()
        assert peer.transport is not None
        if how == "reset":
            sock = peer.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.transport.abort()
        assert await events.next() == ("closed", 1006, "", False)
        await pair.inner.lost.wait()
        assert link.closed
        if how == "reset":
            assert isinstance(pair.inner.lost_calls[0], ConnectionResetError)
        await link.close(1000, "", patience=5)  # nothing to wait for
        assert len(events.items) == 1


# -- heartbeat ------------------------------------------------------------------------------


@SIDES
async def test_heartbeat_silent_peer_is_lost(client_side: bool) -> None:
    """A peer that does not answer the heartbeat's ping is reported lost and aborted."""
    start = time.monotonic()
    async with asyncio.timeout(TIMEOUT), linked(client_side=client_side, heartbeat=0.2) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        assert await events.next() == ("closed", 1006, "heartbeat missed", False)
        assert 0.45 <= time.monotonic() - start < 2
        assert link.closed
        ping = await peer.next()
        assert (ping.opcode, ping.payload) == (PING, b"")
        await peer.gone.wait()
        assert peer.frames == [ping]


@SIDES
async def test_heartbeat_answered_keeps_the_link(client_side: bool) -> None:
    """A peer that answers each ping with a pong stays connected across several periods."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=client_side, heartbeat=0.2) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        peer.answer_pings = True
        events.attach(link)
        for _ in range(3):
            assert (await peer.next()).opcode == PING
        await events.none_within(0.4)
        assert not link.closed
        assert link.ended is None


async def test_close_reads_the_answer_of_a_paused_peer() -> None:
    """close() on a link its owner paused still reads the peer's Close answer (no timeout)."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=False) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        link.pause_reading()
        peer.send(TEXT, b"sent while paused")
        peer.answer_close = True
        started = time.monotonic()
        await link.close(1000, "bye", 5.0)
        assert time.monotonic() - started < 2
        assert link.close_received is not None


async def test_heartbeat_waits_while_the_owner_pauses_reading() -> None:
    """A paused link cannot hear pongs, so the heartbeat does not call its peer lost."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=False, heartbeat=0.2) as pair:
        link, events = pair.link, Events()
        events.attach(link)
        link.pause_reading()
        await events.none_within(0.8)  # four periods: an unpaused link is lost after 0.3-0.5 s
        assert link.ended is None
        link.resume_reading()
        assert await events.next() == ("closed", 1006, "heartbeat missed", False)


async def test_heartbeat_traffic_counts_as_alive() -> None:
    """A peer that keeps sending messages is never pinged."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=False, heartbeat=0.2) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        for i in range(12):  # 1.2 s of traffic, a message every 0.1 s
            sent = peer.send(TEXT, b"%d" % i)
            assert await events.next() == ("text", b"%d" % i, sent)
            peer.changed.clear()
            with pytest.raises(TimeoutError):  # paces the loop: no ping may arrive meanwhile
                await asyncio.wait_for(peer.changed.wait(), 0.1)
        assert peer.frames == []
        assert not link.closed


# -- after the end --------------------------------------------------------------------------


async def test_detach_drops_later_messages() -> None:
    """After detach(), messages and the end of the connection reach no callback."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=False) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        peer.send(TEXT, b"kept")
        assert (await events.next())[:2] == ("text", b"kept")
        link.detach()
        link.release()
        peer.send(TEXT, b"dropped")
        peer.send(BINARY, b"dropped")
        peer.send(TEXT, b"drop", fin=False)
        peer.send(CONTINUATION, b"ped")
        await peer.sync()
        assert peer.transport is not None
        peer.transport.abort()
        await pair.inner.lost.wait()
        assert len(events.items) == 1


@pytest.mark.parametrize("end", ["our-close", "peer-gone"])
async def test_send_after_the_end_is_dropped_quietly(
    end: str, caplog: pytest.LogCaptureFixture
) -> None:
    """send_text after the connection ended raises nothing and logs no asyncio warning."""
    caplog.set_level(logging.DEBUG, logger="asyncio")
    async with asyncio.timeout(TIMEOUT), linked(client_side=True) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        link.release()
        link.send_text(b"before")
        assert (await peer.next()).payload == b"before"
        if end == "our-close":
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(link.close(1000, "", patience=5))
                assert (await peer.next()).opcode == CLOSE
                peer.send(CLOSE, close_payload(1000, ""))
        else:
            assert peer.transport is not None
            peer.transport.abort()
            assert await events.next() == ("closed", 1006, "", False)
        await pair.inner.lost.wait()
        for _ in range(10):  # asyncio warns from the 5th write to a lost connection
            link.send_text(b"after")
            link.forward(b"\x81\x05after", 1 << 20)
    assert not [r for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.INFO]


# -- release --------------------------------------------------------------------------------


async def test_release_before_loss_forwards_it() -> None:
    """released first: the inner protocol hears of the loss when it happens, once."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=True) as pair:
        pair.link.release()
        assert pair.inner.lost_calls == []
        await pair.link.close(1000, "", patience=0.2)
        await pair.inner.lost.wait()
        assert pair.inner.lost_calls == [None]


async def test_release_after_loss_forwards_it_then() -> None:
    """lost first: the inner protocol hears of it only at release(), with the exception."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=False) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        assert peer.transport is not None
        sock = peer.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.transport.abort()
        assert await events.next() == ("closed", 1006, "", False)
        # the callback came from connection_lost, which has returned: nothing forwarded yet
        assert pair.inner.lost_calls == []
        link.release()
        assert len(pair.inner.lost_calls) == 1
        assert isinstance(pair.inner.lost_calls[0], ConnectionResetError)
        link.release()
        assert len(pair.inner.lost_calls) == 1


# -- bugs found by these tests, fixed -------------------------------------------------------


async def test_frames_before_a_bad_one_in_the_same_read_are_delivered() -> None:
    """A good message read in the same chunk as a protocol error is still delivered first."""
    peer = Peer(link_client_side=False)
    good = peer.frame(TEXT, b"last words")
    leftover = good + peer.frame(BINARY, b"x" * 200)  # over max_size: 1009
    async with (
        asyncio.timeout(TIMEOUT),
        linked(client_side=False, max_size=100, leftover=leftover) as pair,
    ):
        events = Events()
        events.attach(pair.link)
        assert events.items == [
            ("text", b"last words", good),
            ("closed", 1009, "message too big", True),
        ]


async def test_ping_flood_from_a_peer_that_never_reads_is_bounded() -> None:
    """A peer that floods PINGs and never reads cannot grow the link's write buffer unboundedly."""
    async with asyncio.timeout(TIMEOUT), linked(client_side=False, pong_backlog=64 << 10) as pair:
        peer, link, events = pair.peer, pair.link, Events()
        events.attach(link)
        assert peer.transport is not None
        peer.transport.pause_reading()  # the attacker never reads its PONGs
        for sock, option in (  # small kernel buffers on the PONGs' way
            (pair.transport.get_extra_info("socket"), socket.SO_SNDBUF),
            (peer.transport.get_extra_info("socket"), socket.SO_RCVBUF),
        ):
            sock.setsockopt(socket.SOL_SOCKET, option, 4096)
        for _ in range(4):
            peer.write(b"".join(peer.frame(PING, b"p" * 125) for _ in range(4000)))  # 2 MiB
        peer.send(TEXT, b"end of flood")
        with contextlib.suppress(TimeoutError):  # a link that stops reading never gets here
            await asyncio.wait_for(events.next(), 1)
        assert link.buffered() < 1 << 20


class _RecordingTransport(asyncio.Transport):
    """A transport that records each write call (no socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[bytes]] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append([bytes(data)])

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append([bytes(d) for d in list_of_data])

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def test_frames_forwarded_from_one_read_leave_in_one_write() -> None:
    """Three frames in one read, each forwarded to the peer link, reach its socket in one call."""
    source = Link(client_side=False, max_size=1 << 20, heartbeat=None)
    target = Link(client_side=True, max_size=1 << 20, heartbeat=None)
    source_transport, target_transport = _RecordingTransport(), _RecordingTransport()
    source.connection_made(source_transport)
    target.connection_made(target_transport)
    source.peer = target
    source.attach(
        lambda _payload, raw: target.forward(raw or b"", 1 << 20),
        lambda _payload: None,
        lambda _code, _reason, _broken: None,
    )
    frames = [encode(TEXT, b"frame %d" % i, key=b"\x01\x02\x03\x04") for i in range(3)]
    source.data_received(b"".join(frames))
    assert target_transport.calls == [frames]
    source.data_received(frames[0])  # a lone frame is written at once, as received
    assert target_transport.calls[-1] == [frames[0]]
    for link in (source, target):
        link.connection_lost(None)


async def test_a_failing_callback_ends_the_link_with_1011_not_a_dead_transport() -> None:
    """A bug in the owner's message callback: closed(1011, broken) and the error is reported."""
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with asyncio.timeout(TIMEOUT), linked(client_side=False) as pair:
            events = Events()

            def explode(_payload: bytes, _raw: bytes | None) -> None:
                raise RuntimeError("translator bug")

            pair.link.attach(explode, events.binary, events.closed)
            pair.peer.send(TEXT, b"boom")
            assert await events.next() == ("closed", 1011, "internal error", True)
            assert not pair.link.closed  # the owner can still send its Close
            await pair.link.close(1011, "internal error", 0.2)
    finally:
        loop.set_exception_handler(None)
    assert [str(c.get("exception")) for c in reported] == ["translator bug"]

"""A `Link` failing a connection: UTF-8 checks, `fail()`, and the lingering close.

A Link on one end of a loopback TCP pair, a raw asyncio stream on the other. After the link
fails the connection it must keep reading (and dropping) what the peer still sends until the
peer answers its Close, so the peer receives that Close intact, not a reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from proxy.ws.frames import CLOSE, CONTINUATION, TEXT, close_payload, parse_close
from proxy.ws.link import Link, take_over
from tests.support.raw_ws import client_frame, header, read_frame

TIMEOUT = 5
MAX = 1 << 16


@dataclass
class Side:
    """The link's owner: records its callbacks."""

    messages: list[bytes] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end: tuple[int, str, bool] | None = None

    def attach(self, link: Link, **options: Any) -> None:
        link.attach(self.message, lambda _: None, self.closed, **options)

    def message(self, payload: bytes, _raw: bytes | None) -> None:
        self.messages.append(payload)

    def closed(self, code: int, reason: str, broken: bool) -> None:
        self.end = (code, reason, broken)
        self.ended.set()

    async def wait(self) -> tuple[int, str, bool]:
        async with asyncio.timeout(TIMEOUT):
            await self.ended.wait()
        assert self.end is not None
        return self.end


@contextlib.asynccontextmanager
async def pair(
    leftover: bytes = b"",
) -> AsyncIterator[tuple[Link, asyncio.StreamReader, asyncio.StreamWriter]]:
    """A server-side Link (taken over with `leftover`) and its client peer's streams."""
    mine, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=mine)
    transport.pause_reading()  # as after a handshake
    link = Link(client_side=False, max_size=MAX, heartbeat=None)
    reader, writer = await asyncio.open_connection(sock=theirs)
    try:
        take_over(transport, link, leftover)
        yield link, reader, writer
    finally:
        link.abort()
        link.release()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_invalid_utf8_in_one_frame_is_1007() -> None:
    side = Side()
    async with pair() as (link, _, writer):
        side.attach(link)
        writer.write(client_frame(TEXT, b"fine") + client_frame(TEXT, b"\xc0\xaf"))
        assert await side.wait() == (1007, "invalid UTF-8 in a text message", True)
    assert side.messages == [b"fine"]


async def test_owner_checked_frames_pass_unchecked_but_fragments_never_do() -> None:
    """`check_frames=False`: a single frame reaches the owner as it came (the owner checks);
    a fragmented message is still checked by the link, fragment by fragment."""
    side = Side()
    async with pair() as (link, _, writer):
        side.attach(link, check_frames=False)
        writer.write(client_frame(TEXT, b"\xff"))
        writer.write(client_frame(TEXT, b"ok\xce", fin=False))
        writer.write(client_frame(CONTINUATION, b"\xba", fin=False))
        writer.write(client_frame(CONTINUATION, b"\xff", fin=False))
        assert await side.wait() == (1007, "invalid UTF-8 in a text message", True)
    assert side.messages == [b"\xff"]


async def test_fail_from_a_callback_stops_the_frames_after_it() -> None:
    """The owner fails the link from its message callback (as the relay does on bad UTF-8):
    later frames of the same read are not delivered."""
    side = Side()
    async with pair() as (link, _, writer):

        def message(payload: bytes, _raw: bytes | None) -> None:
            side.messages.append(payload)
            link.fail(1007, "owner says no")

        link.attach(message, lambda _: None, side.closed)
        writer.write(client_frame(TEXT, b"one") + client_frame(TEXT, b"two"))
        assert await side.wait() == (1007, "owner says no", True)
    assert side.messages == [b"one"]


@pytest.mark.parametrize("how", ["too big", "bad utf-8", "protocol error"])
async def test_a_failed_link_reads_on_until_the_peer_answers(how: str) -> None:
    """The peer is still sending (a frame of 4 * max_size) when the link fails: the link skips
    it, the peer's Close after it is found, and only then is the connection closed, cleanly:
    the peer reads the link's Close and then EOF (a reset would lose both)."""
    side = Side()
    first = {
        "too big": header(TEXT, 4 * MAX, masked=True),
        "bad utf-8": client_frame(TEXT, b"\xff") + header(TEXT, 4 * MAX, masked=True),
        "protocol error": bytes((0x83, 0x80, 0, 0, 0, 0)) + header(TEXT, 4 * MAX, masked=True),
    }[how]
    code = {"too big": 1009, "bad utf-8": 1007, "protocol error": 1002}[how]
    async with pair() as (link, reader, writer):
        side.attach(link)
        writer.write(first)
        assert (await side.wait())[0] == code
        async with asyncio.TaskGroup() as tg:
            closer = tg.create_task(link.close(code, "bye", patience=TIMEOUT * 2))
            for _ in range(4):  # the rest of the big frame, while the link closes
                writer.write(b"x" * MAX)
                await writer.drain()
            writer.write(client_frame(CLOSE, close_payload(1000, "")))
            await writer.drain()
            async with asyncio.timeout(TIMEOUT):
                opcode, payload = await read_frame(reader)
                assert await reader.read() == b""  # EOF: closed cleanly, not reset
        assert closer.done()
    assert (opcode, parse_close(payload)) == (CLOSE, (code, "bye"))
    assert side.messages == []


async def test_lingering_ends_after_max_size_bytes_past_the_skipped_frame() -> None:
    """A peer that never stops sending is cut off once max_size bytes past the frame being
    skipped have been read, long before close()'s patience (60 s) runs out."""
    side = Side()
    written = 0
    async with pair() as (link, _, writer):
        side.attach(link)
        writer.write(client_frame(TEXT, b"\xff"))
        assert (await side.wait())[0] == 1007
        async with asyncio.TaskGroup() as tg:
            closer = tg.create_task(link.close(1007, "", patience=60))
            with contextlib.suppress(ConnectionError):
                async with asyncio.timeout(TIMEOUT):
                    while not closer.done():
                        writer.write(client_frame(TEXT, b"y" * 1000))
                        written += 1006
                        await writer.drain()
            async with asyncio.timeout(TIMEOUT):
                await closer
    assert link.close_sent == 1007
    assert written > MAX


@pytest.mark.parametrize(
    "bad_close",
    [b"\x03", (1005).to_bytes(2, "big"), b"\x03\xe8\xff", b"\x03\xe8" + b"x" * 124],
    ids=["one byte", "reserved code", "reason not utf-8", "too long"],
)
async def test_a_malformed_close_is_the_peers_last_frame(bad_close: bytes) -> None:
    """A bad Close frame fails the link, and counts as the peer's Close: close() closes the
    connection at once instead of waiting for another one (Autobahn 7.3.x, 7.5.1, 7.9.x)."""
    side = Side()
    async with pair() as (link, reader, writer):
        side.attach(link)
        writer.write(client_frame(CLOSE, bad_close))
        code, _, broken = await side.wait()
        assert broken
        assert code in (1002, 1007)
        async with asyncio.timeout(TIMEOUT):
            await link.close(code, "", patience=60)
            opcode, _ = await read_frame(reader)
    assert opcode == CLOSE


async def test_a_failure_in_the_first_read_still_lingers() -> None:
    """Frames that came with the handshake (`leftover`) can fail the link before reading is
    resumed: reading is resumed all the same, so the peer's answer is read."""
    side = Side()
    async with pair(leftover=client_frame(TEXT, b"\xff")) as (link, reader, writer):
        side.attach(link)  # replays the end
        assert (await side.wait())[0] == 1007
        async with asyncio.TaskGroup() as tg:
            closer = tg.create_task(link.close(1007, "", patience=60))
            opcode, _ = await read_frame(reader)
            writer.write(client_frame(CLOSE, close_payload(1000, "")))
            async with asyncio.timeout(TIMEOUT):
                await closer
    assert opcode == CLOSE

"""The native hot lane (`proxy/ws/_lane.c`) against a Python model of its contract: which reads
it takes, that a taken frame is written exactly as received and counted, and that everything
else is declined untouched; then its edges (a failing or re-entrant `write`, cycles, types),
and sending on a socket of its own (`direct`: in order behind the transport's queue, never
under TLS)."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import ssl
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.memory import MemoryTransport, memory_link
from proxy.ws.frames import CLOSE, encode, unmask_py
from proxy.ws.lane import NATIVE, Lane, new_lane
from proxy.ws.link import Link

pytestmark = pytest.mark.skipif(not NATIVE, reason="the extension was not built")

PREFIXES = (b'{"type":"input_audio_buffer.append"', b'{"type": "input_audio_buffer.append"')
APPEND = b'{"type":"input_audio_buffer.append","audio":"' + b"A" * 1280 + b'"}'


def model_takes(
    data: bytes,
    *,
    prefixes: tuple[bytes, ...],
    masked: bool,
    length: int,
    max_size: int,
    sample: int,
    offset: int,
    count: int,
) -> bool:
    """What `Lane.take` must decide for an armed lane (the C file's header, in Python)."""
    if len(data) < 2 or data[0] != 0x81 or bool(data[1] & 0x80) != masked:
        return False
    size, head = data[1] & 0x7F, 2
    if size == 127:
        return False
    if size == 126:
        if len(data) < 4:
            return False
        size, head = int.from_bytes(data[2:4], "big"), 4
    head += 4 if masked else 0
    if size != length or size > max_size or head + size != len(data):
        return False
    payload = bytearray(data[head:])
    if masked:
        unmask_py(data[head - 4 : head], payload)
    if not any(payload.startswith(p) for p in prefixes):
        return False
    return not (sample > 0 and (offset + count + 1) % sample == 0)


def armed(
    masked: bool, length: int, writes: list[bytes], prefixes: tuple[bytes, ...] = PREFIXES
) -> Lane:
    lane = new_lane(prefixes, masked=masked, max_size=1 << 20)
    assert lane is not None
    lane.write, lane.length = writes.append, length
    return lane


def frame(payload: bytes, *, masked: bool) -> bytes:
    return encode(0x1, payload, key=os.urandom(4) if masked else None, unmask=unmask_py)


@pytest.mark.parametrize("masked", [True, False])
def test_an_audio_frame_of_the_run_length_is_written_as_received_and_counted(
    masked: bool,
) -> None:
    writes: list[bytes] = []
    lane = armed(masked, len(APPEND), writes)
    data = frame(APPEND, masked=masked)
    assert lane.take(data) is True
    assert writes == [data]
    assert writes[0] is data  # the very object: nothing copied
    assert lane.count == 1


@pytest.mark.parametrize(
    ("case", "data"),
    [
        ("another length", frame(APPEND + b" ", masked=True)),
        ("not audio", frame(b'{"type":"session.update","session":{}}', masked=True)),
        ("prefix off by its last byte", frame(APPEND.replace(b'append"', b'appenD"'), masked=True)),
        ("unmasked from a client", frame(APPEND, masked=False)),
        ("a fragment", b"\x01" + frame(APPEND, masked=True)[1:]),
        ("an RSV bit", b"\xc1" + frame(APPEND, masked=True)[1:]),
        ("binary", b"\x82" + frame(APPEND, masked=True)[1:]),
        ("two frames in one read", frame(APPEND, masked=True) * 2),
        ("half a frame", frame(APPEND, masked=True)[:700]),
        ("a header alone", frame(APPEND, masked=True)[:3]),
        ("empty", b""),
    ],
)
def test_anything_else_is_declined_and_nothing_written(case: str, data: bytes) -> None:
    writes: list[bytes] = []
    lane = armed(True, len(APPEND), writes)
    assert lane.take(data) is False, case
    assert writes == []
    assert lane.count == 0


def test_a_64_bit_length_and_a_payload_over_max_size_are_declined() -> None:
    big = b'{"type":"input_audio_buffer.append","audio":"' + b"A" * 70000 + b'"}'
    writes: list[bytes] = []
    lane = armed(False, len(big), writes)
    assert lane.take(frame(big, masked=False)) is False  # 127: 64-bit length
    small = new_lane(PREFIXES, masked=False, max_size=100)
    assert small is not None
    small.write, small.length = writes.append, len(APPEND)
    assert small.take(frame(APPEND, masked=False)) is False
    assert writes == []


def test_a_disarmed_lane_and_a_new_one_take_nothing() -> None:
    lane = new_lane(PREFIXES, masked=True, max_size=1 << 20)
    assert lane is not None
    assert (lane.write, lane.length, lane.count) == (None, -1, 0)
    lane.length = len(APPEND)
    assert lane.take(frame(APPEND, masked=True)) is False  # not armed
    writes: list[bytes] = []
    lane.write = writes.append
    assert lane.take(frame(APPEND, masked=True)) is True
    lane.write = None
    assert lane.take(frame(APPEND, masked=True)) is False
    assert len(writes) == lane.count == 1


def test_sampled_frames_are_left_to_the_python_path() -> None:
    """Index offset + count + 1 a multiple of `sample`: declined (the Python path times it)."""
    writes: list[bytes] = []
    lane = armed(True, len(APPEND), writes)
    lane.sample, lane.offset = 64, 1  # one frame went the Python way
    taken = [lane.take(frame(APPEND, masked=True)) for _ in range(63)]
    assert taken == [True] * 62 + [False]  # the 64th of the direction
    lane.offset = 2  # ... and the Python path counted it
    assert lane.take(frame(APPEND, masked=True)) is True
    assert lane.count == 63


def test_a_write_that_raises_disarms_the_lane_and_declines() -> None:
    calls: list[bytes] = []

    def closed(data: bytes) -> None:
        calls.append(data)
        raise RuntimeError("transport closed")

    lane = armed(True, len(APPEND), [])
    lane.write = closed
    assert lane.take(frame(APPEND, masked=True)) is False  # the Python path writes it
    assert len(calls) == 1
    assert lane.write is None
    assert lane.count == 0


def test_a_write_that_disarms_the_lane_still_counts_its_frame() -> None:
    """`transport.write` may call `pause_writing`, which disarms the lane mid-call."""
    writes: list[bytes] = []
    lane = armed(True, len(APPEND), writes)

    def pausing(data: bytes) -> None:
        writes.append(data)
        lane.write = None  # drops the lane's reference while it is being called

    lane.write = pausing
    assert lane.take(frame(APPEND, masked=True)) is True
    assert lane.count == 1
    assert lane.take(frame(APPEND, masked=True)) is False
    assert len(writes) == 1


def test_a_cycle_through_the_lane_is_collected() -> None:
    """transport -> protocol -> lane -> transport.write: the collector frees it."""

    class Transport:
        def __init__(self) -> None:
            self.lane = new_lane(PREFIXES, masked=True, max_size=10)

        def write(self, data: bytes) -> None:
            pass

    transport = Transport()
    assert transport.lane is not None
    transport.lane.write = transport.write
    gone = weakref.ref(transport)
    del transport
    gc.collect()
    assert gone() is None


def test_attributes_refuse_wrong_types() -> None:
    lane = new_lane(PREFIXES, masked=True, max_size=10)
    assert lane is not None
    with pytest.raises(TypeError):
        lane.write = b"not callable"  # type: ignore[assignment]
    with pytest.raises(TypeError):
        lane.prefixes = [b"a list"]  # type: ignore[assignment]
    with pytest.raises(TypeError):
        lane.prefixes = ("text",)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Lane(["a list"], masked=True, max_size=1)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        lane.count = 3  # type: ignore[misc]
    assert lane.take("not bytes") is False  # type: ignore[arg-type]
    lane.prefixes = (b"x",)
    assert lane.prefixes == (b"x",)


_HEADS = st.sampled_from([b"\x81", b"\x01", b"\x82", b"\xc1", b"\x80"])


@st.composite
def reads(draw: Callable[..., object]) -> tuple[bytes, bool, int]:
    """A read as a lane may see it: mostly well-formed frames near the audio prefixes, with
    lengths, masks and first bytes perturbed; the lane's `length` near the payload's."""
    masked = bool(draw(st.booleans()))
    prefix = draw(st.sampled_from([*PREFIXES, b'{"type":"session.update"', b""]))
    assert isinstance(prefix, bytes)
    tail = draw(st.binary(max_size=300))
    assert isinstance(tail, bytes)
    payload = prefix + tail
    data = frame(payload, masked=bool(draw(st.booleans())) if draw(st.booleans()) else masked)
    mutation = draw(st.sampled_from(["none", "head", "cut", "extend", "flip"]))
    if mutation == "head":
        head = draw(_HEADS)
        assert isinstance(head, bytes)
        data = head + data[1:]
    elif mutation == "cut":
        data = data[: int(draw(st.integers(0, len(data))))]  # type: ignore[call-overload]
    elif mutation == "extend":
        data += draw(st.binary(min_size=1, max_size=8))  # type: ignore[operator]
    elif mutation == "flip":
        at = int(draw(st.integers(0, len(data) - 1)))  # type: ignore[call-overload]
        data = data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :]
    length = len(payload) + int(draw(st.sampled_from([0, 0, 0, 1, -1])))  # type: ignore[call-overload]
    return data, masked, length


@settings(max_examples=600, deadline=None)
@given(
    read=reads(),
    sample=st.sampled_from([0, 1, 2, 64]),
    offset=st.integers(0, 200),
    count_before=st.integers(0, 5),
)
def test_the_extension_decides_as_the_model(
    read: tuple[bytes, bool, int], sample: int, offset: int, count_before: int
) -> None:
    data, masked, length = read
    writes: list[bytes] = []
    lane = armed(masked, len(APPEND), writes)
    for _ in range(count_before):  # get `count` to a value
        assert lane.take(frame(APPEND, masked=masked))
    writes.clear()
    lane.length, lane.sample, lane.offset = length, sample, offset
    expected = model_takes(
        data,
        prefixes=PREFIXES,
        masked=masked,
        length=length,
        max_size=1 << 20,
        sample=sample,
        offset=offset,
        count=count_before,
    )
    assert lane.take(data) is expected
    assert writes == ([data] if expected else [])
    assert lane.count == count_before + expected


class Target:
    """A protocol the lane stands in front of (as a link is)."""

    def __init__(self) -> None:
        self.reads: list[bytes] = []
        self.lost: list[Exception | None] = []

    def data_received(self, data: bytes) -> None:
        self.reads.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


def test_as_the_protocol_it_hands_declined_reads_and_other_calls_to_its_target() -> None:
    target, writes = Target(), []
    lane = new_lane(PREFIXES, masked=True, max_size=1 << 20, target=target)
    assert lane is not None
    lane.write, lane.length = writes.append, len(APPEND)
    audio, other = frame(APPEND, masked=True), frame(b'{"type":"response.create"}', masked=True)
    lane.data_received(audio)
    lane.data_received(other)
    assert writes == [audio]
    assert target.reads == [other]
    lane.connection_lost(None)  # type: ignore[attr-defined]  # the target's
    assert target.lost == [None]
    assert lane.target is target
    with pytest.raises(AttributeError):
        lane.no_such_attribute  # type: ignore[attr-defined]  # noqa: B018


def test_a_failing_target_raises_to_the_transport() -> None:
    class Failing(Target):
        def data_received(self, data: bytes) -> None:
            raise ValueError("bug")

    lane = new_lane(PREFIXES, masked=True, max_size=10, target=Failing())
    assert lane is not None
    with pytest.raises(ValueError, match="bug"):
        lane.data_received(b"\x81\x80abcd")


# -- sending on the socket itself (`direct`) ---------------------------------------------------


def socket_pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    return ours, theirs


def test_direct_sends_on_the_socket_while_the_transport_holds_nothing() -> None:
    ours, theirs = socket_pair()
    writes: list[bytes] = []
    queued = [0]
    lane = armed(True, len(APPEND), writes)
    lane.direct(ours.fileno(), lambda: queued[0])
    assert lane.sends_directly
    first = frame(APPEND, masked=True)
    assert lane.take(first) is True
    assert theirs.recv(65536) == first  # on the socket, not through `write`
    assert writes == []
    queued[0] = 5  # the transport holds bytes: they must leave first
    second = frame(APPEND, masked=True)
    assert lane.take(second) is True
    assert writes == [second]
    assert lane.count == 2
    with pytest.raises(BlockingIOError):
        theirs.recv(65536)
    lane.release()
    assert not lane.sends_directly
    assert lane.write is None
    ours.close()
    theirs.close()


def test_what_the_kernel_does_not_take_goes_to_the_transport_in_order() -> None:
    """A full socket buffer: the part sent stays sent, the rest goes to `write` (which queues
    it behind), and nothing is sent twice."""
    ours, theirs = socket_pair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    while True:  # fill the socket up to a little less than a frame
        try:
            ours.send(b"x" * 256)
        except BlockingIOError:
            break
    writes: list[bytes] = []
    lane = armed(False, len(APPEND), writes)
    lane.direct(ours.fileno(), lambda: 0)
    data = frame(APPEND, masked=False)
    assert lane.take(data) is True
    assert len(writes) == 1
    assert data.endswith(writes[0])  # the rest, or the whole frame on EAGAIN
    received = b""
    while True:
        try:
            received += theirs.recv(1 << 20)
        except BlockingIOError:
            break
    assert received.lstrip(b"x") + writes[0] == data
    lane.release()
    ours.close()
    theirs.close()


async def test_a_link_that_loses_its_connection_releases_the_lane_sending_to_it(
    self_signed: tuple[Path, Path],
) -> None:
    """The transport closes its socket only after `connection_lost`: by then the lane that
    sends on that socket has let go of its descriptor, so it can never send on a closed (or
    reused) one."""
    peers: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    async with server:
        target = await _link_to(server, None)
        other = memory_link(False, MemoryTransport())
        other.peer, target.peer = target, other
        lane = other.open_lane(PREFIXES)
        assert lane is not None
        lane.write, lane.length = target.writer, len(APPEND)
        target.lend_socket(lane)
        assert lane.sends_directly
        for writer in peers:
            writer.close()  # the peer goes: the transport reports it, then closes its socket
        async with asyncio.timeout(5):
            assert await target.receive() == (CLOSE, b"")  # connection_lost ended the link
        assert not lane.sends_directly
        assert lane.write is None


def test_a_failing_buffered_callable_falls_back_to_write() -> None:
    ours, theirs = socket_pair()
    writes: list[bytes] = []
    lane = armed(True, len(APPEND), writes)

    def broken() -> int:
        raise RuntimeError("closed")

    lane.direct(ours.fileno(), broken)
    data = frame(APPEND, masked=True)
    assert lane.take(data) is True
    assert writes == [data]
    with pytest.raises(ValueError, match="descriptor"):
        lane.direct(-1, broken)
    lane.release()
    ours.close()
    theirs.close()


async def _link_to(server: asyncio.Server, ssl_context: ssl.SSLContext | None) -> Link:
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    _, link = await loop.create_connection(
        lambda: Link(client_side=True, max_size=1 << 20, heartbeat=None),
        "127.0.0.1",
        port,
        ssl=ssl_context,
        server_hostname="127.0.0.1" if ssl_context else None,
    )
    return link


@pytest.mark.parametrize("tls", [False, True])
async def test_a_link_lends_its_socket_to_a_lane_only_over_plain_tcp(
    tls: bool, self_signed: tuple[Path, Path]
) -> None:
    """Under TLS only the transport may write (a lane's bytes would be plaintext)."""
    cert, key = self_signed
    server_context = client_context = None
    if tls:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(cert, key)
        client_context = ssl.create_default_context(cafile=str(cert))
    peers: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=server_context)
    async with server:
        link = await _link_to(server, client_context)
        lane = new_lane(PREFIXES, masked=False, max_size=10)
        assert lane is not None
        link.lend_socket(lane)
        assert lane.sends_directly is (not tls)
        lane.release()
        link.abort()
        for writer in peers:
            writer.close()


async def test_a_link_on_an_unknown_transport_lends_nothing() -> None:
    link = memory_link(False, MemoryTransport())
    lane = new_lane(PREFIXES, masked=False, max_size=10)
    assert lane is not None
    link.lend_socket(lane)
    assert not lane.sends_directly

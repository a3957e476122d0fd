"""The sans-I/O frame codec (`proxy.ws.frames`): round trips, chunking, errors, Close payloads."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    close_payload,
    encode,
    parse_close,
    unmask_py,
)
from proxy.ws.link import UNMASK

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BIG = 1 << 20
SIZES = [0, 1, 125, 126, 65535, 65536]


def parser(*, masked: bool, max_size: int = BIG) -> FrameParser:
    """A parser for frames sent by a client (`masked`) or by a server."""
    return FrameParser(masked=masked, max_size=max_size, unmask=UNMASK)


def not_fin(frame: bytes) -> bytes:
    """`frame` with its FIN bit cleared (a fragment that more follow)."""
    return bytes((frame[0] & 0x7F,)) + frame[1:]


def fails(data: bytes, *, masked: bool, max_size: int = BIG) -> FrameError:
    """The FrameError a fresh parser raises on `data`."""
    with pytest.raises(FrameError) as info:
        parser(masked=masked, max_size=max_size).feed(data)
    return info.value


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("masked", [False, True])
def test_round_trip_sizes(size: int, masked: bool) -> None:
    """encode then feed gives the opcode, FIN, payload and the exact bytes back (all lengths)."""
    payload = os.urandom(size)
    key = os.urandom(4) if masked else None
    data = encode(BINARY, payload, key=key)
    head = {0: 2, 1: 2, 125: 2, 126: 4, 65535: 4, 65536: 10}[size] + (4 if masked else 0)
    assert len(data) == head + size
    assert (data[1] & 0x80 != 0) is masked
    if masked and size >= 4:
        assert data[head:] != payload or key == b"\0\0\0\0"
    frames = parser(masked=masked).feed(data)
    assert frames == [Frame(BINARY, True, payload, data)]


@pytest.mark.parametrize("opcode", [TEXT, BINARY, PING, PONG, CLOSE])
def test_round_trip_opcodes(opcode: int) -> None:
    """Every opcode survives encode and feed, masked and not."""
    payload = b"\x03\xe8bye" if opcode == CLOSE else b"payload"
    for key in (None, b"\x01\x02\x03\x04"):
        data = encode(opcode, payload, key=key)
        (frame,) = parser(masked=key is not None).feed(data)
        assert (frame.opcode, frame.fin, frame.payload, frame.raw) == (opcode, True, payload, data)


def test_masking_matches_rfc_example() -> None:
    """The RFC 6455 §5.7 masked "Hello" example encodes and parses as printed there."""
    wire = bytes.fromhex("818537fa213d7f9f4d5158")
    assert encode(TEXT, b"Hello", key=bytes.fromhex("37fa213d")) == wire
    assert parser(masked=True).feed(wire) == [Frame(TEXT, True, b"Hello", wire)]
    assert parser(masked=False).feed(b"\x81\x05Hello") == [
        Frame(TEXT, True, b"Hello", b"\x81\x05Hello")
    ]


# -- chunking -------------------------------------------------------------------------------

frame_specs = st.lists(
    st.tuples(st.sampled_from([TEXT, BINARY, PING, PONG]), st.binary(max_size=300)),
    min_size=1,
    max_size=6,
)


def build(specs: list[tuple[int, bytes]], masked: bool) -> list[bytes]:
    """Encoded frames for `specs` (control payloads capped at 125 bytes)."""
    out = []
    for opcode, payload in specs:
        body = payload[:125] if opcode >= CLOSE else payload
        out.append(encode(opcode, body, key=os.urandom(4) if masked else None))
    return out


@SETTINGS
@given(specs=frame_specs, masked=st.booleans(), data=st.data())
def test_any_chunking_gives_the_same_frames(
    specs: list[tuple[int, bytes]], masked: bool, data: st.DataObject
) -> None:
    """A stream of frames fed whole, byte by byte or in random splits yields the same frames."""
    encoded = build(specs, masked)
    stream = b"".join(encoded)
    whole = parser(masked=masked).feed(stream)
    assert [f.raw for f in whole] == encoded

    one = parser(masked=masked)
    by_byte = [f for i in range(len(stream)) for f in one.feed(stream[i : i + 1])]
    assert by_byte == whole

    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)), max_size=20)))
    bounds = [0, *cuts, len(stream)]
    split = parser(masked=masked)
    chunked = [f for a, b in itertools.pairwise(bounds) for f in split.feed(stream[a:b])]
    assert chunked == whole


def test_two_frames_in_one_chunk() -> None:
    """Two frames in one chunk give two frames, each with its own exact bytes."""
    first, second = encode(TEXT, b"one"), encode(BINARY, b"two" * 100)
    frames = parser(masked=False).feed(first + second)
    assert frames == [Frame(TEXT, True, b"one", first), Frame(BINARY, True, b"two" * 100, second)]


def test_lone_frame_raw_is_the_input_object() -> None:
    """A lone frame fed whole keeps the input object as its raw bytes (no copy)."""
    for masked in (False, True):
        data = encode(TEXT, b"x" * 1000, key=b"abcd" if masked else None)
        (frame,) = parser(masked=masked).feed(data)
        assert frame.raw is data


def test_partial_frame_is_kept_until_complete() -> None:
    """A frame cut after its header gives nothing until the rest arrives."""
    data = encode(BINARY, b"z" * 70000, key=b"wxyz")
    p = parser(masked=True)
    assert p.feed(data[:1]) == []
    assert p.feed(data[1:9]) == []
    assert p.feed(data[9:-1]) == []
    assert p.feed(data[-1:]) == [Frame(BINARY, True, b"z" * 70000, data)]
    assert p.feed(b"") == []


def test_fragments_parse_with_their_fin_bits() -> None:
    """A non-FIN TEXT fragment and its CONTINUATION keep their opcodes and FIN bits."""
    first = not_fin(encode(TEXT, b"hel"))
    rest = encode(CONTINUATION, b"lo")
    assert parser(masked=False).feed(first + rest) == [
        Frame(TEXT, False, b"hel", first),
        Frame(CONTINUATION, True, b"lo", rest),
    ]


# -- unmasking ------------------------------------------------------------------------------


@SETTINGS
@given(key=st.binary(min_size=4, max_size=4), payload=st.binary(max_size=2000))
def test_c_unmask_agrees_with_python(key: bytes, payload: bytes) -> None:
    """aiohttp's C XOR (proxy.ws.link.UNMASK) and unmask_py agree, and each undoes itself."""
    c, py = bytearray(payload), bytearray(payload)
    UNMASK(key, c)
    unmask_py(key, py)
    assert c == py
    assert c == bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    unmask_py(key, py)
    assert py == payload


def test_unmask_is_the_c_routine() -> None:
    """The link uses aiohttp's compiled routine here, not the Python fallback."""
    assert UNMASK is not unmask_py


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10])
def test_rsv_bits_are_1002(rsv: int) -> None:
    """Any RSV bit (no extension is negotiated) is a protocol error."""
    data = encode(TEXT, b"hi")
    assert fails(bytes((data[0] | rsv,)) + data[1:], masked=False).code == 1002


@pytest.mark.parametrize("opcode", [0x3, 0x7, 0xB, 0xF])
def test_unknown_opcode_is_1002(opcode: int) -> None:
    """A reserved opcode is a protocol error."""
    assert fails(encode(opcode, b"hi"), masked=False).code == 1002


def test_masked_frame_to_client_side_is_1002() -> None:
    """A server must not mask: a masked frame on the client side is a protocol error."""
    error = fails(encode(TEXT, b"hi", key=b"1234"), masked=False)
    assert (error.code, error.reason) == (1002, "masked frame")


def test_unmasked_frame_to_server_side_is_1002() -> None:
    """A client must mask: an unmasked frame on the server side is a protocol error."""
    error = fails(encode(TEXT, b"hi"), masked=True)
    assert (error.code, error.reason) == (1002, "unmasked frame")


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_oversized_or_fragmented_control_is_1002(opcode: int) -> None:
    """A control frame over 125 bytes, or without FIN, is a protocol error."""
    payload = b"\x03\xe8" + b"x" * 124
    assert fails(encode(opcode, payload), masked=False).code == 1002
    assert fails(not_fin(encode(opcode, b"\x03\xe8")), masked=False).code == 1002
    (frame,) = parser(masked=False).feed(encode(opcode, payload[:125]))
    assert len(frame.payload) == 125


@pytest.mark.parametrize("masked", [False, True])
def test_over_max_size_is_1009_from_the_header(masked: bool) -> None:
    """A frame over max_size fails as soon as its header arrives, before the payload."""
    for length, header in (
        (1 << 40, bytes((0x82, 127)) + (1 << 40).to_bytes(8, "big")),
        (70000, bytes((0x82, 127)) + (70000).to_bytes(8, "big")),
        (1001, bytes((0x82, 126)) + (1001).to_bytes(2, "big")),
        (126, bytes((0x82, 126)) + (126).to_bytes(2, "big")),
    ):
        if masked:
            header = bytes((header[0], header[1] | 0x80)) + header[2:]
        p = parser(masked=masked, max_size=125)
        assert p.feed(header[:-1]) == []  # the length is not known yet
        with pytest.raises(FrameError) as info:
            p.feed(header[-1:])
        assert info.value.code == 1009, length
    exact = encode(BINARY, b"y" * 125, key=b"kkkk" if masked else None)
    assert len(parser(masked=masked, max_size=125).feed(exact)) == 1


# -- Close payloads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"), [(1000, ""), (1001, "going away"), (3000, "é"), (4999, "x" * 123)]
)
def test_close_payload_round_trip(code: int, reason: str) -> None:
    """close_payload then parse_close gives the code and reason back."""
    payload = close_payload(code, reason)
    assert len(payload) <= 125
    assert parse_close(payload) == (code, reason)


def test_parse_close_empty_is_1005() -> None:
    """A Close without a payload carries no code: 1005."""
    assert parse_close(b"") == (1005, "")


def test_parse_close_one_byte_is_1002() -> None:
    """A one-byte Close payload is a protocol error."""
    with pytest.raises(FrameError) as info:
        parse_close(b"\x03")
    assert info.value.code == 1002


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_parse_close_invalid_codes_are_1002(code: int) -> None:
    """Codes no endpoint may send are a protocol error."""
    with pytest.raises(FrameError) as info:
        parse_close(code.to_bytes(2, "big") + b"why")
    assert info.value.code == 1002


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999])
def test_parse_close_valid_codes(code: int) -> None:
    """Registered and application codes (3000-4999) are accepted."""
    assert parse_close(code.to_bytes(2, "big")) == (code, "")


def test_parse_close_non_utf8_reason_is_1007() -> None:
    """A Close reason that is not UTF-8 is 1007."""
    with pytest.raises(FrameError) as info:
        parse_close(b"\x03\xe8\xff\xfe")
    assert info.value.code == 1007


@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_close_reason_cut_on_a_character_boundary(char: str) -> None:
    """A long reason is cut to fit 123 bytes without splitting a multi-byte character."""
    reason = "a" + char * 200
    payload = close_payload(1000, reason)
    assert len(payload) <= 125
    code, cut = parse_close(payload)  # valid UTF-8, or this raises 1007
    assert code == 1000
    assert reason.startswith(cut)
    assert len(cut.encode()) > 123 - len(char.encode())  # as much as fits


@pytest.mark.parametrize("code", [1005, 1006, 1015])
def test_reserved_codes_give_an_empty_payload(code: int) -> None:
    """1005/1006/1015 are never sent on the wire: their Close payload is empty."""
    assert close_payload(code, "reason") == b""
    assert parse_close(close_payload(code, "reason")) == (1005, "")


def test_single_text_returns_none_for_a_read_that_ends_inside_the_header() -> None:
    """A read holding only the first bytes of a 16-bit-length TEXT frame is not a frame yet."""
    frame = encode(TEXT, b"x" * 300, key=b"\x01\x02\x03\x04")
    parser = FrameParser(masked=True, max_size=1 << 20)
    for cut in (2, 3):
        assert parser.single_text(frame[:cut]) is None
    assert parser.feed(frame[:3]) == []
    [got] = parser.feed(frame[3:])
    assert got.payload == b"x" * 300


# -- the hot lane's check (`hot_text`) ------------------------------------------------------

HOT = (b'{"type":"input_audio_buffer.append"', b'{"type": "input_audio_buffer.append"')
HEAD = max(map(len, HOT))
KEY = b"\x11\x22\x33\x44"


def frame_of(payload: bytes, *, masked: bool) -> bytes:
    """`payload` as one TEXT frame from a client (`masked`) or a server."""
    return encode(TEXT, payload, key=KEY if masked else None)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("size", [40, 125, 126, 3000, 65535])
def test_hot_text_gives_the_payload_length_of_a_hot_frame(masked: bool, size: int) -> None:
    """A lone TEXT frame starting with a hot prefix: its payload length (7- and 16-bit)."""
    payload = (HOT[size % 2] + b"x" * size)[:size]  # both prefix styles
    assert parser(masked=masked).hot_text(frame_of(payload, masked=masked), HOT, HEAD) == size


def test_hot_text_unmasks_only_the_head() -> None:
    """Of a masked payload only the first `head` bytes are unmasked; the rest is not copied."""
    seen: list[int] = []

    def unmask(key: bytes, data: bytearray) -> None:
        seen.append(len(data))
        unmask_py(key, data)

    payload = HOT[0] + b"A" * 3000
    hot = FrameParser(masked=True, max_size=BIG, unmask=unmask)
    assert hot.hot_text(frame_of(payload, masked=True), HOT, HEAD) == len(payload)
    assert seen == [HEAD]


@pytest.mark.parametrize(
    ("case", "data"),
    [
        ("other type", frame_of(b'{"type":"response.create"}', masked=True)),
        (
            "type not first",
            frame_of(b'{"audio":"","type":"input_audio_buffer.append"}', masked=True),
        ),
        ("fragment", not_fin(frame_of(HOT[0] + b"}", masked=True))),
        ("two frames", frame_of(HOT[0] + b"}", masked=True) * 2),
        ("part of a frame", frame_of(HOT[0] + b"x" * 200, masked=True)[:-1]),
        ("unmasked from a client", frame_of(HOT[0] + b"}", masked=False)),
        ("64-bit length", encode(TEXT, HOT[0] + b"x" * 70000, key=KEY)),
        ("binary", encode(BINARY, HOT[0] + b"}", key=KEY)),
    ],
)
def test_hot_text_declines_anything_else(case: str, data: bytes) -> None:
    """Not one whole, rightly masked TEXT frame starting with a prefix: -1 (`feed` decides)."""
    assert parser(masked=True).hot_text(data, HOT, HEAD) == -1, case


@pytest.mark.parametrize(
    ("case", "data"),
    [
        ("RSV1 set", bytes((0xC1,)) + frame_of(HOT[0] + b"}", masked=False)[1:]),
        ("masked from a server", frame_of(HOT[0] + b"}", masked=True)),
        ("a PING carrying the prefix", encode(PING, HOT[0] + b"}")),
        ("a CLOSE", encode(CLOSE, close_payload(1000, "bye"))),
    ],
)
def test_hot_text_on_the_client_side_declines_anything_else(case: str, data: bytes) -> None:
    """The upstream side's check: server frames must be unmasked TEXT frames, nothing else."""
    assert parser(masked=False).hot_text(data, HOT, HEAD) == -1, case


def test_hot_text_and_feed_agree_on_a_non_minimal_16_bit_length() -> None:
    """RFC 6455 asks for the shortest length encoding; like `feed` (and most peers), the hot
    lane's check does not insist, so both paths take the same frames."""
    payload = HOT[0] + b"}"
    frame = bytes((0x81, 126)) + len(payload).to_bytes(2, "big") + payload
    assert parser(masked=False).hot_text(frame, HOT, HEAD) == len(payload)
    [parsed] = parser(masked=False).feed(frame)
    assert parsed.payload == payload


def test_hot_text_declines_while_bytes_are_pending_or_over_max_size() -> None:
    """A frame after a partial one, or bigger than `max_size`, is left to `feed`."""
    frame = frame_of(HOT[0] + b"x" * 100, masked=True)
    assert parser(masked=True, max_size=50).hot_text(frame, HOT, HEAD) == -1
    waiting = parser(masked=True)
    assert waiting.feed(frame[:5]) == []
    assert waiting.hot_text(frame, HOT, HEAD) == -1

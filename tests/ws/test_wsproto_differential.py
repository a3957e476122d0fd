"""Differential fuzzing: our framing against `wsproto`'s, on the same byte streams.

Hypothesis builds streams of frames (masked as a client sends them or unmasked as a server
does; text, binary, fragments with pings, pongs and closes between them; now and then a
reserved bit or opcode, wrong masking, a fragmented or oversized control frame, a bad close
code or reason, bytes that are not UTF-8) and cuts them at random points. Two levels:

- frames: `FrameParser.feed` against wsproto's `FrameDecoder` (header rules only): the same
  (opcode, FIN, payload) sequence, or both refuse with the same close code;
- messages: a `Link` (reassembly, UTF-8, close codes, PONG answers) against wsproto's
  `FrameProtocol`: the same messages, pings and close, or the same failure code.

Known differences, kept out of the streams (not bugs on either side): wsproto refuses a length
not encoded in the fewest bytes, which `FrameParser` accepts (RFC 6455 says MUST for the sender
only); wsproto does not yet know close code 1014 (IANA "Bad Gateway"), which `parse_close`
accepts. Frames stay under `max_size` (wsproto has no such limit).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameDecoder, FrameProtocol, Opcode, ParseFailed

from proxy.ws.frames import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, FrameError, FrameParser
from proxy.ws.link import UNMASK, Link

BIG = 1 << 20
CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 4999]
BAD_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def frame_bytes(
    opcode: int, payload: bytes, *, fin: bool, rsv: int, masked: bool, key: bytes
) -> bytes:
    """One frame, length in the fewest bytes, masked with `key` when `masked`."""
    n = len(payload)
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    mask = 0x80 if masked else 0
    if n < 126:
        head = bytes((first, mask | n))
    elif n < 1 << 16:
        head = bytes((first, mask | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, mask | 127)) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    body = bytearray(payload)
    UNMASK(key, body)
    return head + key + bytes(body)


texts = st.one_of(
    st.text(max_size=40).map(str.encode),  # UTF-8, multi-byte characters included
    st.text(max_size=40).map(str.encode),
    st.binary(max_size=40),  # mostly not UTF-8
    st.sampled_from([b"ok\xce", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]),  # cut, surrogate, too high
)
long_payloads = st.tuples(st.binary(min_size=1, max_size=8), st.sampled_from([16, 9000])).map(
    lambda pair: pair[0] * pair[1]  # 16..128 bytes (16-bit length), 9000..72000 (64-bit)
)
FAULTS = ["rsv", "opcode", "masking", "fragmented control", "long control", "orphan", "nested"]


@st.composite
def close_payload(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["empty", "one byte", "good", "good", "bad code", "bad reason"]))
    if kind == "empty":
        return b""
    if kind == "one byte":
        return b"\x03"
    code = draw(st.sampled_from(BAD_CODES if kind == "bad code" else CODES))
    reason = b"\xff\xfe" if kind == "bad reason" else draw(st.text(max_size=20)).encode()[:100]
    return code.to_bytes(2, "big") + reason


@st.composite
def control(draw: st.DrawFn) -> tuple[int, bytes, bool]:
    """A ping, a pong, or (rarely) a close: (opcode, payload, FIN)."""
    opcode = draw(st.sampled_from([PING, PING, PONG, CLOSE]))
    payload = draw(close_payload()) if opcode == CLOSE else draw(st.binary(max_size=20))
    return opcode, payload, True


@st.composite
def message(draw: st.DrawFn) -> list[tuple[int, bytes, bool]]:
    """A TEXT or BINARY message in 1-3 fragments (cut anywhere, inside a UTF-8 sequence too),
    with control frames between them."""
    opcode = draw(st.sampled_from([TEXT, TEXT, BINARY]))
    payload = draw(texts | long_payloads if opcode == TEXT else st.binary(max_size=40))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(payload)), max_size=2))))
    pieces = [payload[a:b] for a, b in itertools.pairwise([0, *cuts, len(payload)])]
    frames: list[tuple[int, bytes, bool]] = []
    for i, piece in enumerate(pieces):
        if i and draw(st.booleans()):
            frames.append(draw(control()))
        frames.append((CONTINUATION if i else opcode, piece, i == len(pieces) - 1))
    return frames


@st.composite
def stream(draw: st.DrawFn) -> tuple[bool, bytes, list[bytes]]:
    """(server side?, the stream, the stream cut into reads). Messages and control frames,
    in about a third of the streams one frame that breaks a rule (`FAULTS`)."""
    server_side = draw(st.booleans())
    items = draw(st.lists(message() | control().map(lambda c: [c]), min_size=1, max_size=6))
    frames = [f for item in items for f in item]
    fault = draw(st.sampled_from([None, None, *FAULTS]))
    at = draw(st.integers(0, len(frames) - 1))
    rsv, masking = [0] * len(frames), [server_side] * len(frames)
    _, payload, fin = frames[at]
    if fault == "rsv":
        rsv[at] = draw(st.integers(1, 7))
    elif fault == "opcode":
        frames[at] = (draw(st.sampled_from([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])), payload, fin)
    elif fault == "masking":
        masking[at] = not server_side
    elif fault == "fragmented control":
        frames[at] = (draw(st.sampled_from([PING, PONG, CLOSE])), payload[:100], False)
    elif fault == "long control":
        frames[at] = (draw(st.sampled_from([PING, PONG, CLOSE])), b"\x03\xe8" + b"x" * 124, True)
    elif fault == "orphan":
        frames.insert(at, (CONTINUATION, b"stray", draw(st.booleans())))
    elif fault == "nested":
        frames.insert(at, (TEXT, b"open", False))
        frames.insert(at + 1, (draw(st.sampled_from([TEXT, BINARY])), b"new", True))
    rsv += [0] * (len(frames) - len(rsv))
    masking += [server_side] * (len(frames) - len(masking))
    data = b"".join(
        frame_bytes(
            op,
            body,
            fin=last,
            rsv=rsv[i],
            masked=masking[i],
            key=draw(st.binary(min_size=4, max_size=4)),
        )
        for i, (op, body, last) in enumerate(frames)
    )
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=6))) | {0, len(data)})
    return server_side, data, [data[a:b] for a, b in itertools.pairwise(cuts)]


# -- frames -----------------------------------------------------------------------------------


def ours_frames(server_side: bool, reads: list[bytes]) -> tuple[list[Any], int | None]:
    parser = FrameParser(masked=server_side, max_size=BIG, unmask=UNMASK)
    frames: list[Any] = []
    for data in reads:
        try:
            frames += [(f.opcode, f.fin, f.payload) for f in parser.feed(data)]
        except FrameError as exc:
            frames += [(f.opcode, f.fin, f.payload) for f in exc.frames]
            return frames, exc.code
    return frames, None


def wsproto_frames(server_side: bool, reads: list[bytes]) -> tuple[list[Any], int | None]:
    decoder = FrameDecoder(client=not server_side)
    frames: list[Any] = []
    current: list[Any] | None = None  # the frame being assembled from wsproto's pieces
    for data in reads:
        decoder.receive_bytes(data)
        try:
            while (piece := decoder.process_buffer()) is not None:
                if current is None:
                    current = [int(piece.opcode), piece.message_finished, bytearray()]
                current[2] += piece.payload
                if piece.frame_finished:
                    frames.append((current[0], current[1], bytes(current[2])))
                    current = None
        except ParseFailed as exc:
            return frames, int(exc.code)
    return frames, None


@SETTINGS
@given(stream())
def test_frames_match_wsproto(case: tuple[bool, bytes, list[bytes]]) -> None:
    server_side, _, reads = case
    assert ours_frames(server_side, reads) == wsproto_frames(server_side, reads)


# -- messages ---------------------------------------------------------------------------------


class Recorder(asyncio.Transport):
    """A transport that records the PONGs the link writes, in order with its callbacks."""

    def __init__(self, events: list[Any]) -> None:
        super().__init__()
        self.events = events

    def write(self, data: bytes | bytearray | memoryview) -> None:
        parser = FrameParser(masked=data[1] & 0x80 != 0, max_size=BIG, unmask=UNMASK)
        for f in parser.feed(bytes(data)):
            if f.opcode == PONG:
                self.events.append(("ping", f.payload))

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def ours_messages(server_side: bool, reads: list[bytes]) -> list[Any]:
    events: list[Any] = []

    async def run() -> None:
        link = Link(client_side=not server_side, max_size=BIG, heartbeat=None)
        link.connection_made(Recorder(events))

        def closed(code: int, reason: str, broken: bool) -> None:
            events.append(("fail", code) if broken else ("close", code, reason))

        link.attach(
            lambda payload, _: events.append(("text", payload)),
            lambda payload: events.append(("binary", payload)),
            closed,
        )
        for data in reads:
            link.data_received(data)

    asyncio.run(run())
    return events


def wsproto_messages(server_side: bool, reads: list[bytes]) -> list[Any]:
    protocol = FrameProtocol(client=not server_side, extensions=[])
    events: list[Any] = []
    parts: list[Any] = []
    try:
        for data in reads:
            protocol.receive_bytes(data)
            for f in protocol.received_frames():
                if f.opcode is Opcode.PING:
                    events.append(("ping", f.payload))
                elif f.opcode is Opcode.CLOSE:
                    code, reason = f.payload
                    events.append(("close", int(code), reason))
                    return events
                elif f.opcode is not Opcode.PONG:
                    parts.append(f.payload)
                    if f.message_finished:
                        kind = "text" if isinstance(parts[0], str) else "binary"
                        whole = "".join(parts).encode() if kind == "text" else b"".join(parts)
                        events.append((kind, whole))
                        parts = []
    except ParseFailed as exc:
        events.append(("fail", int(exc.code)))
    return events


@SETTINGS
@given(stream())
def test_messages_match_wsproto(case: tuple[bool, bytes, list[bytes]]) -> None:
    server_side, _, reads = case
    assert ours_messages(server_side, reads) == wsproto_messages(server_side, reads)


def test_the_streams_reach_every_outcome() -> None:
    """The generator is not vacuous: hand-made streams give messages, pings, a close and both
    failure codes, the same on both sides."""
    key = os.urandom(4)

    def f(opcode: int, payload: bytes, fin: bool = True) -> bytes:
        return frame_bytes(opcode, payload, fin=fin, rsv=0, masked=True, key=key)

    cases = [
        [f(TEXT, b"h\xc3", False), f(PING, b"p"), f(CONTINUATION, b"\xa9llo"), f(BINARY, b"\0")],
        [f(TEXT, b"ok"), f(CLOSE, (4000).to_bytes(2, "big") + b"bye")],
        [f(TEXT, b"a", False), f(TEXT, b"b")],  # 1002: a new message inside one
        [f(TEXT, b"\xce", False), f(CONTINUATION, b"x")],  # 1007 at the second fragment
    ]
    outcomes = []
    for frames in cases:
        data = b"".join(frames)
        reads = [data[:3], data[3:]]
        assert ours_messages(True, reads) == wsproto_messages(True, reads)
        outcomes.append(ours_messages(True, reads)[-1][0])
    assert outcomes == ["binary", "close", "fail", "fail"]
    assert ours_messages(True, [b"".join(cases[3])])[-1] == ("fail", 1007)

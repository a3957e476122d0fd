"""Sans-I/O WebSocket framing (RFC 6455 §5): bytes in, frames out; frames in, bytes out.

The relay's hot path. `FrameParser.feed()` cuts a byte stream into frames and keeps each
frame's exact bytes (`Frame.raw`), so a frame the proxy does not change is forwarded as
received, header, mask and all: a client's masked frame is a valid frame for the upstream
(both travel client-to-server), and the upstream's unmasked frame is valid for the client.

No extension is ever negotiated (the proxy offers and accepts none), so any RSV bit is a
protocol error. Unmasking is injected (`Unmask`): the shell passes aiohttp's C routine, this
module falls back to a pure-Python one (`unmask_py`).

After a `FrameError` (or `FrameParser.discard()`), a parser only skips: it reads frame headers,
steps over payloads without buffering them, and returns nothing but Close frames. That is
how a connection the proxy failed keeps reading what its peer is still sending until the
peer's answering Close arrives (a lingering close: closing a socket with unread bytes makes
the kernel send a reset, which can destroy the Close frame the peer has not read yet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "PING",
    "PONG",
    "TEXT",
    "Frame",
    "FrameError",
    "FrameParser",
    "Unmask",
    "close_payload",
    "encode",
    "parse_close",
    "unmask_py",
]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_KNOWN = frozenset((CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG))
_CONTROL_MAX = 125
_REASON_MAX = 123

Unmask = Callable[[bytes, bytearray], None]
"""(4-byte key, payload) -> None: XOR the payload with the key, in place."""


class Frame(NamedTuple):
    """One frame: its opcode, FIN bit, unmasked payload and exact bytes on the wire."""

    opcode: int
    fin: bool
    payload: bytes
    raw: bytes


class FrameError(Exception):
    """The peer broke the framing rules; close the connection with `code` (1002 or 1009).

    `frames`: the good frames completed in the same `feed()` before the bad one (deliver them
    first: what arrives before a protocol error must not depend on TCP segmentation). The
    parser that raised it only skips from then on (`FrameParser.discard`). `closing`: the bad
    frame was a Close frame (so the peer will send nothing more).
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.frames: list[Frame] = []
        self.closing = False  # the bad frame was a Close: the peer sends nothing after it


def unmask_py(key: bytes, data: bytearray) -> None:
    """Pure-Python `Unmask` (the shell normally injects aiohttp's C version)."""
    n = len(data)
    if not n:
        return
    stream = (key * (n // 4 + 1))[:n]
    data[:] = (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little"
    )


class FrameParser:
    """Incremental frame parser for one direction of one connection.

    Args:
        masked: True on the server side (every frame from a client must be masked), False
            on the client side (frames from a server must not be).
        max_size: the largest frame payload accepted; a bigger one is a `FrameError(1009)`
            raised as soon as its header arrives, before its payload is buffered.
        unmask: the XOR routine for masked payloads.
    """

    __slots__ = ("_discarding", "_masked", "_max", "_need", "_pending", "_skip", "_unmask")

    def __init__(self, *, masked: bool, max_size: int, unmask: Unmask = unmask_py) -> None:
        self._masked = masked
        self._max = max_size
        self._unmask = unmask
        self._pending = bytearray()
        self._need = 0  # bytes `_pending` must reach before parsing again
        self._discarding = False  # after an error: skip everything but Close frames
        self._skip = 0  # discarding: bytes of the current frame still to skip

    @property
    def unfinished(self) -> int:
        """Bytes the frame in progress will occupy once whole (its declared size as soon as
        its header is in, what is held until then); 0 between frames and once discarding."""
        return self._need if self._pending and not self._discarding else 0

    @property
    def skipping(self) -> int:
        """Discarding: bytes of the frame in progress still to be skipped (0 otherwise)."""
        return self._skip

    def discard(self) -> list[Frame]:
        """Skip from now on: every later `feed` steps over frames without buffering their
        payloads and returns only the Close frames found (their `raw` included), without
        checking anything else. What is held already is skipped at once (the frame in
        progress, or what followed a bad frame): the Close frames found there are returned."""
        if not self._discarding:
            self._discarding, self._skip = True, 0  # `_pending` starts at a frame boundary
        return self._discard(b"")

    def single_text(self, data: bytes) -> bytes | None:
        """The payload if `data` is exactly one whole, unfragmented TEXT frame and nothing is
        pending, else None (then call `feed`, which also reports errors).

        The shortcut for a frame alone in its read: no `Frame` or list is built. The header
        checks are inlined, not a shared helper: every audio delta comes this way, and calling
        a helper measured 7% more instructions per delta (`bench.hotpath --instructions`).
        """
        n = len(data)
        if self._pending or n < 2 or data[0] != 0x81:
            return None
        second = data[1]
        length = second & 0x7F
        start = 2
        if length == 126:
            if n < 4:
                return None
            start, length = 4, data[2] << 8 | data[3]
        elif length == 127:
            return None
        if not second & 0x80:
            if self._masked or start + length != n or length > self._max:
                return None
            return data[start:]
        start += 4
        if not self._masked or start + length != n or length > self._max:
            return None
        body = bytearray(memoryview(data)[start:])
        self._unmask(data[start - 4 : start], body)
        return bytes(body)

    def hot_text(self, data: bytes, prefixes: tuple[bytes, ...], head: int) -> int:
        """The payload's length if `data` is exactly one whole, unfragmented TEXT frame whose
        payload starts with one of `prefixes` and nothing is pending, else -1 (then
        `single_text` or `feed` decides, and reports any error).

        The relay's hot lane: only the first `head` bytes of a masked payload (at least the
        longest prefix) are unmasked; the rest of the frame is neither unmasked nor copied.
        The checks are `single_text`'s, inlined for the same reason (every audio append comes
        this way; a shared helper cost a call per frame).
        """
        n = len(data)
        if self._pending or n < 2 or data[0] != 0x81:
            return -1
        second = data[1]
        length = second & 0x7F
        start = 2
        if length == 126:
            if n < 4:
                return -1
            start, length = 4, data[2] << 8 | data[3]
        elif length == 127:
            return -1
        if not second & 0x80:
            if self._masked or start + length != n or length > self._max:
                return -1
            return length if data.startswith(prefixes, start) else -1
        start += 4
        if not self._masked or start + length != n or length > self._max:
            return -1
        body = bytearray(data[start : start + head])
        self._unmask(data[start - 4 : start], body)
        return length if body.startswith(prefixes) else -1

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by `data`, in order (bytes of an incomplete one are kept).

        Raises:
            FrameError: a frame breaks RFC 6455 or is over `max_size`; the parser then only
                skips (`discard`): the connection must be closed.
        """
        if self._discarding:
            return self._discard(data)
        if self._pending:
            self._pending += data
            if len(self._pending) < self._need:
                return []
            data = bytes(self._pending)
            self._pending = bytearray()
        frames: list[Frame] = []
        try:
            pos = self._parse(data, frames)
        except FrameError as exc:
            exc.frames = frames
            raise
        if pos < len(data):
            self._pending = bytearray(memoryview(data)[pos:])
        return frames

    def _parse(self, data: bytes, frames: list[Frame]) -> int:
        """Append the whole frames at the start of `data` to `frames`; return where they end.

        Written for speed (several frames per read at high rates): locals, one memoryview,
        no `int.from_bytes` for 16-bit lengths, `Frame`s built with `tuple.__new__`.
        """
        pos, n = 0, len(data)
        masked, limit, unmask, view = self._masked, self._max, self._unmask, memoryview(data)
        append, new = frames.append, tuple.__new__
        while n - pos >= 2:
            first, second = data[pos], data[pos + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                head = 4
                if n - pos < head:
                    self._need = head
                    break
                length = data[pos + 2] << 8 | data[pos + 3]
            elif length == 127:
                head = 10
                if n - pos < head:
                    self._need = head
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            opcode = first & 0x0F
            if (
                first & 0x70
                or opcode not in _KNOWN
                or bool(second & 0x80) is not masked
                or (opcode >= CLOSE and (length > _CONTROL_MAX or not first & 0x80))
                or length > limit
            ):
                view.release()
                raise self._error(data, pos, head, length)
            start = pos + head + 4 if masked else pos + head
            end = start + length
            if end > n:
                self._need = end - pos
                break
            if masked:
                body = bytearray(view[start:end])
                unmask(data[start - 4 : start], body)
                payload = bytes(body)
            else:
                payload = data[start:end]
            raw = data if pos == 0 and end == n else data[pos:end]
            append(new(Frame, (opcode, bool(first & 0x80), payload, raw)))
            pos = end
        else:
            self._need = 2
        view.release()
        return pos

    def _error(self, data: bytes, pos: int, head: int, length: int) -> FrameError:
        """What is wrong with the frame at `pos` (header `head` bytes, payload `length`);
        from here on the parser skips, starting after that frame."""
        first, second = data[pos], data[pos + 1]
        if first & 0x70 or first & 0x0F not in _KNOWN:
            error = FrameError(1002, "reserved bits or opcode")
        elif bool(second & 0x80) is not self._masked:
            error = FrameError(1002, "masked frame" if second & 0x80 else "unmasked frame")
        elif first & 0x0F >= CLOSE and (length > _CONTROL_MAX or not first & 0x80):
            error = FrameError(1002, "fragmented or oversized control frame")
        else:
            error = FrameError(1009, "message too big")
        error.closing = first & 0x0F == CLOSE
        end = pos + head + (4 if second & 0x80 else 0) + length
        self._discarding = True
        self._skip = max(end - len(data), 0)
        self._pending = bytearray(data[end:]) if end < len(data) else bytearray()
        return error

    def _discard(self, data: bytes) -> list[Frame]:
        """Skip frames (see `discard`); return the whole Close frames among them. Keeps at
        most one frame header and a Close payload (139 bytes) between calls."""
        buf = self._pending + data if self._pending else data
        pos, n, skip = 0, len(buf), self._skip
        closes: list[Frame] = []
        while True:
            if skip:
                taken = min(skip, n - pos)
                pos, skip = pos + taken, skip - taken
                if skip:
                    break
            if n - pos < 2:
                break
            first, second = buf[pos], buf[pos + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                head = 4
                if n - pos < head:
                    break
                length = buf[pos + 2] << 8 | buf[pos + 3]
            elif length == 127:
                head = 10
                if n - pos < head:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            start = pos + head + (4 if second & 0x80 else 0)
            if first & 0x0F != CLOSE or length > _CONTROL_MAX:
                skip = start - pos + length
                continue
            end = start + length
            if end > n:
                break
            body = bytearray(buf[start:end])
            if second & 0x80:
                self._unmask(bytes(buf[start - 4 : start]), body)
            closes.append(Frame(CLOSE, bool(first & 0x80), bytes(body), bytes(buf[pos:end])))
            pos = end
        self._skip = skip
        self._pending = bytearray(buf[pos:])
        return closes


def _header(opcode: int, length: int, fin: bool, masked: bool) -> bytes:
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return bytes((first, mask_bit | length))
    if length < 1 << 16:
        return bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    return bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")


def encode(
    opcode: int, payload: bytes, *, key: bytes | None = None, unmask: Unmask = unmask_py
) -> bytes:
    """One complete (FIN) frame; masked with `key` (4 bytes) when given (client side)."""
    if key is None:
        return _header(opcode, len(payload), True, False) + payload
    body = bytearray(payload)
    unmask(key, body)  # XOR is its own inverse: the same routine masks
    return _header(opcode, len(payload), True, True) + key + body


def close_payload(code: int, reason: str) -> bytes:
    """A Close frame's payload: the code, then the reason cut to fit 125 bytes (UTF-8 safe)."""
    if code in (1005, 1006, 1015):  # reserved: never sent on the wire
        return b""
    return code.to_bytes(2, "big") + reason.encode()[:_REASON_MAX].decode(errors="ignore").encode()


def parse_close(payload: bytes) -> tuple[int, str]:
    """(code, reason) of a received Close frame; 1005 when it carries no code.

    Raises:
        FrameError: a one-byte payload, a code no endpoint may send, or a reason that is not
            UTF-8 (1002 / 1007).
    """
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise FrameError(1002, "close frame with a one-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if code < 1000 or 1004 <= code <= 1006 or 1015 <= code < 3000 or code >= 5000:
        raise FrameError(1002, "invalid close code")
    try:
        return code, payload[2:].decode()
    except UnicodeDecodeError:
        raise FrameError(1007, "close reason is not UTF-8") from None

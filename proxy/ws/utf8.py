"""UTF-8 validation of TEXT messages (RFC 6455 §5.6, §8.1: invalid UTF-8 fails the connection
with 1007), at C speed and without keeping what was decoded.

- `valid_utf8(data)`: one whole payload. ASCII (every audio event, most JSON) is recognised by
  `bytes.isascii()`, a word-at-a-time C loop; anything else is decoded by CPython's strict UTF-8
  codec (which refuses overlong forms, surrogates and code points above U+10FFFF, as RFC 3629
  does) and the text thrown away.
- `Utf8Stream`: a message that arrives in fragments, checked fragment by fragment with the
  codec's incremental decoder, so a bad byte fails the connection when its fragment arrives,
  not when the message ends ("fail fast", Autobahn TestSuite 6.4.x).
"""

from __future__ import annotations

import codecs

__all__ = ["Utf8Stream", "valid_utf8"]

_Decoder = codecs.getincrementaldecoder("utf-8")


def valid_utf8(data: bytes) -> bool:
    """True if `data` is well-formed UTF-8."""
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


class Utf8Stream:
    """Validates one message at a time, in pieces (`feed`); reusable after a final piece."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder: codecs.IncrementalDecoder | None = None  # only once a piece is not ASCII

    def feed(self, data: bytes, final: bool) -> bool:
        """Check the next piece of the message; False as soon as the bytes so far cannot be
        the start of valid UTF-8 (or, with `final`, are not complete UTF-8). Reset after a
        final piece or a failure."""
        decoder = self._decoder
        if decoder is None:
            if data.isascii():  # no sequence is left open: nothing to remember
                return True
            decoder = self._decoder = _Decoder()
        try:
            decoder.decode(data, final)
        except UnicodeDecodeError:
            self._decoder = None
            return False
        if final:
            self._decoder = None
        return True

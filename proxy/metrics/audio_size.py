"""Audio sizes from base64 text and session formats, without decoding anything (pure).

Used by `proxy.metrics.observe` on the hot path: an audio frame's payload size is found with C-level
string searches over the frame text the relay already holds.
"""

from __future__ import annotations

from typing import Any

__all__ = ["G711", "PCM16_24K", "b64_decoded_size", "b64_size", "bytes_per_second"]

PCM16_24K = 48_000  # bytes per second of the default format (PCM16 mono 24 kHz)
G711 = 8_000  # audio/pcmu and audio/pcma: one byte per sample at 8 kHz
_WS = " \t\r\n"


class _Alphabet:
    """The JSON tokens the size search needs, as `str` or as `bytes` (frames stay bytes)."""

    def __init__(self, encode: Any) -> None:
        self.compact, self.spaced = encode(':"'), encode(': "')
        self.colon, self.quote, self.ws = encode(":"), encode('"'), encode(_WS)
        self.pad: Any = encode("=") if encode is str else ord("=")  # bytes index to ints


_STR, _BYTES = _Alphabet(str), _Alphabet(str.encode)
# The keys the observer sizes, as compact JSON lays them out (`"key":"`).
_COMPACT_KEYS = {key: f'"{key}":"'.encode() for key in ("audio", "delta")}


def b64_decoded_size(text: str | bytes, key: str) -> int:
    """Decoded size of the base64 string value of `"key"` in the JSON `text`, without decoding.

    Finds `"key"`, then `:` and the opening quote (whitespace allowed), then the closing quote
    (base64 never contains one): size = len * 3 / 4 minus padding. 0 when not found. Compact
    (`"key":"`) and Python-style (`"key": "`) JSON take a path of C-level searches only.
    `text` may be the raw UTF-8 frame (`bytes`, the relay's fast path); nothing is copied.
    """
    if isinstance(text, bytes):  # the relay's frames: compact JSON first, two C-level searches
        compact = _COMPACT_KEYS.get(key) or f'"{key}":"'.encode()
        at = text.find(compact)
        if at >= 0:
            start = at + len(compact)
            end = text.find(b'"', start)
            if end < 0:
                return 0
            pad = (end > start and text[end - 1] == 61) + (end - 1 > start and text[end - 2] == 61)
            return max((end - start) * 3 // 4 - pad, 0)
    tokens = _BYTES if isinstance(text, bytes) else _STR
    data: Any = text
    needle: Any = f'"{key}"'.encode() if isinstance(text, bytes) else f'"{key}"'
    at = data.find(needle)
    while at >= 0:
        i = at + len(needle)
        if data.startswith(tokens.compact, i):
            start = i + 2
        elif data.startswith(tokens.spaced, i):
            start = i + 3
        else:
            while i < len(data) and data[i : i + 1] in tokens.ws:
                i += 1
            if not data.startswith(tokens.colon, i):
                at = data.find(needle, at + 1)  # the key text was a value, not a key
                continue
            i += 1
            while i < len(data) and data[i : i + 1] in tokens.ws:
                i += 1
            if not data.startswith(tokens.quote, i):
                return 0
            start = i + 1
        end = data.find(tokens.quote, start)
        if end < 0:
            return 0
        length = end - start
        pad = (length > 0 and data[end - 1] == tokens.pad) + (
            length > 1 and data[end - 2] == tokens.pad
        )
        return int(max(length * 3 // 4 - pad, 0))
    return 0


def b64_size(text: str, start: int, end: int) -> int:
    """Decoded size of the base64 characters `text[start:end]` (padding allowed)."""
    length = end - start
    pad = (length > 0 and text[end - 1] == "=") + (length > 1 and text[end - 2] == "=")
    return max(length * 3 // 4 - pad, 0)


def bytes_per_second(fmt: Any) -> int | None:
    """Bytes per second of a GA `audio.*.format` object, None when not stated."""
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind in ("audio/pcmu", "audio/pcma"):
        return G711
    if kind == "audio/pcm":
        rate = fmt.get("rate")
        return 2 * rate if isinstance(rate, int) and rate > 0 else PCM16_24K
    return None

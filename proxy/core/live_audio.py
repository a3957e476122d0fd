"""Audio inside Live and Inworld frames, moved as bytes (pure): never decoded, never parsed.

A Live `session.input_audio.append` carries its audio in `audio`, Inworld's
`response.output_audio.delta` in `delta`, both one base64 string
(docs/protocol-notes.md#openai-live-events, #inworld-audio-formats). The Live translator
(`proxy.core.live`) re-wraps that string in the other protocol's envelope: `string_value` finds
it with byte searches, `audio_ms` sizes it from its length, and the two `*_frame` functions
build the new frame around the very same bytes. A frame these searches are not sure about (an
escaped string, an unusual layout) gives None, and the caller parses it instead.
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = [
    "LIVE_APPEND_PREFIXES",
    "append_frame",
    "audio_bytes",
    "audio_ms",
    "bytes_per_second",
    "delta_frame",
    "silence",
    "string_value",
]

# A Live client's audio appends, recognised by their first bytes (compact and Python-style
# JSON, as the openai SDKs send them; the closing quote keeps longer types from matching).
LIVE_APPEND_PREFIXES = (
    b'{"type":"session.input_audio.append"',
    b'{"type": "session.input_audio.append"',
)
_WS = b" \t\r\n"
_QUOTE, _COLON, _EQ = 0x22, 0x3A, 0x3D
_SILENCE_BYTE = {"audio/pcm": 0x00, "audio/pcmu": 0xFF, "audio/pcma": 0xD5}
_SILENCE_CACHE_MAX = 16


def string_value(data: bytes, key: bytes) -> bytes | None:
    """The bytes between the quotes of the string value of `"key"` in the JSON object `data`,
    or None when there is none or it holds an escape (the caller then parses the frame).

    Only for keys that occur once, at the top level of the events they are used on
    (`audio`, `delta`, `item_id`, `response_id`): a string value cannot hide a match, because
    its quotes would be escaped. Compact (`"key":"`) and spaced (`"key": "`) layouts take two
    C-level searches."""
    needle = b'"' + key + b'"'
    at = data.find(needle)
    while at >= 0:
        i = at + len(needle)
        n = len(data)
        while i < n and data[i] in _WS:
            i += 1
        if i < n and data[i] == _COLON:
            i += 1
            while i < n and data[i] in _WS:
                i += 1
            if i >= n or data[i] != _QUOTE:
                return None
            end = data.find(b'"', i + 1)
            if end < 0:
                return None
            value = data[i + 1 : end]
            return None if b"\\" in value else value
        at = data.find(needle, at + 1)
    return None


def audio_bytes(b64: bytes) -> int:
    """Decoded size of a base64 string, from its length and padding alone."""
    n = len(b64)
    if not n:
        return 0
    pad = (b64[-1] == _EQ) + (n > 1 and b64[-2] == _EQ)
    return max(n * 3 // 4 - pad, 0)


def bytes_per_second(audio_format: Any) -> int:
    """Bytes per second of a Live (or GA) audio format object: PCM16 at its rate, G.711 at
    8 kHz one byte a sample; PCM16 24 kHz when the object says nothing usable."""
    if isinstance(audio_format, dict):
        kind = audio_format.get("type")
        if kind in ("audio/pcmu", "audio/pcma"):
            return 8000
        rate = audio_format.get("rate")
        if kind == "audio/pcm" and rate in (8000, 16000, 24000, 48000):
            return int(rate) * 2
    return 48_000


def audio_ms(b64: bytes, rate: int) -> float:
    """Milliseconds of audio in a base64 string at `rate` bytes per second."""
    return audio_bytes(b64) * 1000 / rate


def silence(size: int, kind: str, cache: dict[tuple[int, str], bytes]) -> bytes:
    """Base64 of `size` bytes of silence in format `kind` (`audio/pcm`, `audio/pcmu`,
    `audio/pcma`); `cache` keeps the last few sizes (clients send fixed-size chunks)."""
    key = (size, kind)
    found = cache.get(key)
    if found is None:
        if len(cache) >= _SILENCE_CACHE_MAX:
            cache.clear()
        found = cache[key] = base64.b64encode(bytes([_SILENCE_BYTE.get(kind, 0)]) * size)
    return found


def append_frame(b64: bytes) -> bytes:
    """Inworld's `input_audio_buffer.append` around a Live append's audio string."""
    return b'{"type":"input_audio_buffer.append","audio":"' + b64 + b'"}'


def delta_frame(b64: bytes) -> bytes:
    """Live's `session.output_audio.delta` around an Inworld delta's audio string (the primary
    WebSocket form: no `start_ms`/`end_ms`, no `event_id`)."""
    return b'{"type":"session.output_audio.delta","delta":"' + b64 + b'"}'

"""Cheap event-type detection for the hot path (audio frames), without parsing JSON.

Audio appends and audio deltas are nearly all of the traffic; nothing in them changes, so the
relay forwards the original text. `sniff_type` reads the top-level `"type"` value from the first
bytes of a frame and returns None whenever it is not certain, so the caller falls back to a
full parse.
"""

from __future__ import annotations

__all__ = ["sniff_type"]

_WINDOW = 256  # "type" sits in the first few dozen bytes of every real client's frames


def sniff_type(text: str | bytes) -> str | None:
    """Return the top-level `type` of the JSON object `text`, or None if unsure.

    Sure means: `"type"` occurs in the first 256 characters, only one `{` precedes it (so it is a
    top-level key, not a nested one), and its value is a plain string without escapes.
    `text` may be the frame's UTF-8 bytes as received: the head is then read as Latin-1 (never
    fails; a non-ASCII type comes out mangled and matches no known event, so the caller parses).
    """
    # Nearly every real frame starts with its type (compact or Python-style JSON): then the
    # value runs to the next quote, and nothing else needs checking.
    if isinstance(text, bytes):
        start = 9 if text.startswith(b'{"type":"') else 10 if text.startswith(b'{"type": "') else 0
        if start:
            end = text.find(b'"', start, _WINDOW)
            if end > 0 and text.find(b"\\", start, end) < 0:
                return text[start:end].decode("latin-1")
    else:
        start = 9 if text.startswith('{"type":"') else 10 if text.startswith('{"type": "') else 0
        if start:
            end = text.find('"', start, _WINDOW)
            if end > 0 and text.find("\\", start, end) < 0:
                return text[start:end]
    head = text[:_WINDOW]
    if isinstance(head, bytes):
        head = head.decode("latin-1")
    key = head.find('"type"')
    if key < 1 or head[key - 1] == "\\":
        return None
    if head.count("{", 0, key) != 1 or head.count("[", 0, key):
        return None
    colon = key + 6
    while colon < len(head) and head[colon] in " \t\r\n":
        colon += 1
    if colon >= len(head) or head[colon] != ":":
        return None
    start = colon + 1
    while start < len(head) and head[start] in " \t\r\n":
        start += 1
    if start >= len(head) or head[start] != '"':
        return None
    end = head.find('"', start + 1)
    if end < 0:
        return None
    value = head[start + 1 : end]
    if "\\" in value:
        return None
    return value

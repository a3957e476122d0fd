"""Outputs of the sans-I/O core: what the relay must do next.

The core (`proxy.core.translate`) never touches a socket; it returns these values and
`proxy.session.relay` executes them in order, in one flat `match`. Names are imperatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "FORWARD",
    "BinaryToClient",
    "BinaryToUpstream",
    "CloseClient",
    "Command",
    "Forward",
    "ToClient",
    "ToUpstream",
]


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the frame being handled on to the other side unchanged: the very bytes received
    (its frame as read, header and mask included, when it came in one frame)."""


@dataclass(frozen=True, slots=True)
class ToClient:
    """Send `text` to the client as one TEXT frame (bytes: UTF-8 as received, sent as is)."""

    text: str | bytes


@dataclass(frozen=True, slots=True)
class ToUpstream:
    """Send `text` to Inworld as one TEXT frame (bytes: UTF-8 as received, sent as is)."""

    text: str | bytes


@dataclass(frozen=True, slots=True)
class BinaryToClient:
    """Send `data` to the client as one BINARY frame (pass-through routes only)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class BinaryToUpstream:
    """Send `data` upstream as one BINARY frame (pass-through routes only)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CloseClient:
    """End the session: close the client with `code`/`reason` (and the upstream normally)."""

    code: int
    reason: str


Command = Forward | ToClient | ToUpstream | BinaryToClient | BinaryToUpstream | CloseClient

FORWARD: Final[tuple[Forward]] = (Forward(),)
"""The whole answer when a frame goes on unchanged; the relay tests `commands is FORWARD`
first, so the most frequent frames take one identity check."""

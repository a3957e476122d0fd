"""Outputs of the sans-I/O core: what the relay must do next.

The core (`proxy.core.translate`) never touches a socket; it returns these values and
`proxy.session.relay` executes them in order, in one flat `match`. Names are imperatives.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BinaryToClient", "BinaryToUpstream", "CloseClient", "Command", "ToClient", "ToUpstream"]


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


Command = ToClient | ToUpstream | BinaryToClient | BinaryToUpstream | CloseClient

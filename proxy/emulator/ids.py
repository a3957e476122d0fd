"""Deterministic ids and server-event construction for one emulated session.

Inworld's ``event_id`` values are UUIDs (docs/protocol-notes.md#inworld-event-ids); item,
response and call ids are opaque strings, given OpenAI-like prefixes here. A session seeded with
the same key produces the same id sequence, which keeps test transcripts reproducible.
"""

import random
import string
import uuid
from typing import Any

__all__ = ["Event", "IdFactory"]

Event = dict[str, Any]
"""One JSON event, client or server. Kept loose on purpose: the emulator reads few fields."""

_ALPHABET = string.ascii_letters + string.digits


class IdFactory:
    """Id source seeded from the session key; every call consumes the shared random stream."""

    def __init__(self, seed: str) -> None:
        """Seed the generator; string seeds are hashed deterministically (not per process)."""
        self._rng = random.Random(seed)

    def uuid(self) -> str:
        """A fresh UUID4-shaped string (used for ``event_id`` and ``session.id``)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def prefixed(self, prefix: str) -> str:
        """A fresh ``<prefix>_<20 alphanumerics>`` id, e.g. ``item_...``, ``resp_...``."""
        return f"{prefix}_{''.join(self._rng.choices(_ALPHABET, k=20))}"

    def event(self, type_: str, /, **fields: Any) -> Event:
        """A server event ``{"event_id": <uuid>, "type": type_, **fields}``."""
        return {"event_id": self.uuid(), "type": type_, **fields}

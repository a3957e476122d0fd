"""Pass-through mode of the translation core, for sessions routed to OpenAI itself.

`RoutedTranslator` is a `Translator` that the session's dialer may switch to pass-through
(`passthrough = True`) before `start()` when the variant that answered is `provider =
"openai"`. In that mode nothing is translated: every frame goes on as the very same bytes,
both ways, BINARY frames included. The session counts as started (`started`, the watchdog's
start deadline) when the upstream's first message arrives: OpenAI sends `session.created`
unprompted right after its handshake. Frames other than audio appends and deltas are still
parsed (never re-serialised) so the metrics observer sees turns and responses exactly as for
Inworld sessions, which is what makes per-provider turn latency comparable.

Sessions whose route has no `openai` variant use a plain `Translator`, so translated sessions
pay nothing for this mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from proxy.core.commands import (
    FORWARD,
    BinaryToClient,
    BinaryToUpstream,
    Command,
    ToClient,
    ToUpstream,
)
from proxy.core.error_events import new_event_id
from proxy.core.events import DELTA_PREFIXES, NOT_PARSED_FOR_METRICS
from proxy.core.locked import LOCKED_CODE, locked_refusal
from proxy.core.sniff import sniff_type
from proxy.core.translate import Translator

__all__ = ["RoutedTranslator"]


def _parsed(text: str | bytes) -> dict[str, Any] | None:
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


class RoutedTranslator(Translator):
    """A `Translator` with a pass-through mode (see the module docstring)."""

    passthrough: bool = False
    _heard: bool = False  # pass-through: a message from the upstream has arrived

    @property
    def provider(self) -> str:
        """ "OpenAI" in pass-through mode."""
        return "OpenAI" if self.passthrough else super().provider

    @property
    def started(self) -> bool:
        """Pass-through: True once the upstream's first message (TEXT or BINARY) arrived."""
        return self._heard if self.passthrough else super().started

    def start(self) -> Sequence[Command]:
        """Translated: the initial `session.update`. Pass-through: only an ephemeral token's
        session config, as the client's own `session.update` (the client then sees one
        `session.updated`); otherwise nothing."""
        if not self.passthrough:
            return super().start()
        if not self.preset:
            return ()
        event = {"type": "session.update", "event_id": new_event_id(), "session": self.preset}
        return (ToUpstream(orjson.dumps(event).decode()),)

    @property
    def delta_prefixes(self) -> tuple[bytes, ...]:
        """In pass-through mode audio deltas always go on unchanged."""
        return DELTA_PREFIXES if self.passthrough else super().delta_prefixes

    def from_client(self, text: str | bytes) -> Sequence[Command]:
        """Translated, or forwarded unchanged (parsed only for metrics)."""
        if not self.passthrough:
            return super().from_client(text)
        self._observe(text)
        event = self.last_event
        if self.locked and event and (refusal := locked_refusal(self.pinned, self.locked, event)):
            self._refused(LOCKED_CODE)  # an ephemeral token's fixed fields hold here too
            return (ToClient(refusal),)
        return FORWARD

    def from_upstream(self, text: str | bytes) -> Sequence[Command]:
        """Translated, or forwarded unchanged (parsed only for metrics)."""
        if not self.passthrough:
            return super().from_upstream(text)
        self._heard = True
        self._observe(text)
        return FORWARD

    def from_client_binary(self, data: bytes) -> Sequence[Command]:
        """Refused as for Inworld, or forwarded unchanged in pass-through mode."""
        if not self.passthrough:
            return super().from_client_binary(data)
        self.last_type = self.last_event = None
        return (BinaryToUpstream(data),)

    def from_upstream_binary(self, data: bytes) -> Sequence[Command]:
        """Dropped as for Inworld, or forwarded unchanged in pass-through mode."""
        if not self.passthrough:
            return super().from_upstream_binary(data)
        self._heard = True
        self.last_type = self.last_event = None
        return (BinaryToClient(data),)

    def _observe(self, text: str | bytes) -> None:
        self.last_type = kind = sniff_type(text)
        self.last_event = None if kind in NOT_PARSED_FOR_METRICS else _parsed(text)
        if self.last_event is not None and isinstance(self.last_event.get("type"), str):
            self.last_type = self.last_event["type"]

"""The sans-I/O translation core: one per client connection.

Frames go in as text, `Command`s come out (`proxy.commands`); nothing here does I/O, so whole
conversations are tested without sockets. The relay calls, in this order:

1. `start()` once the upstream socket is open: the proxy's own initial `session.update`.
2. `from_client(text)` / `from_client_binary(data)` for each client frame.
3. `from_upstream(text)` for each Inworld frame.

Hot path: audio appends (up) and audio/transcript deltas (down) are recognised by
`proxy.sniff.sniff_type` and forwarded as the very same string, never parsed. Everything else
is parsed, rewritten where a rule applies, and re-serialised only when something changed.

Session start (`openai-realtime.md` §6: the client's first event is `session.created`, and it
sees nothing it did not cause): Inworld's own `session.created` is held back; the answer to the
proxy's initial `session.update` is shown to the client as `session.created`, so the client
sees the effective session and never an extra `session.updated`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import orjson

from proxy.commands import Command, ToClient, ToUpstream
from proxy.config import Rules
from proxy.errors import error_text, new_event_id
from proxy.rewrite import (
    ClientNames,
    SessionFieldError,
    initial_session,
    rewrite_response,
    rewrite_session,
    show_client_names,
)
from proxy.sniff import sniff_type
from proxy.validate import check_session_types

__all__ = ["INWORLD_ONLY_EVENTS", "LEGACY_EVENT_NAMES", "Phase", "Translator"]

# Client events forwarded byte-for-byte when sniffed (no rule ever changes them).
_CLIENT_FAST = frozenset({"input_audio_buffer.append"})
# Server events forwarded byte-for-byte once the session is open.
_UPSTREAM_FAST = frozenset(
    {
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "conversation.item.input_audio_transcription.delta",
    }
)

# Beta-style names Inworld has emitted (`inworld-realtime.md` §3.2, §3.3 #5) -> GA names.
LEGACY_EVENT_NAMES: dict[str, str] = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "input_audio_transcription.delta": "conversation.item.input_audio_transcription.delta",
    "input_audio_buffer.transcription.delta": "conversation.item.input_audio_transcription.delta",
}

# Inworld-only server events (`inworld-realtime.md` §3.2, §3.3 #4); dropped when
# `Rules.drop_inworld_only_events`.
INWORLD_ONLY_EVENTS = frozenset(
    {
        "response.backchannel.audio.delta",
        "response.backchannel.audio.done",
        "response.backchannel.skipped",
        "response.responsiveness.audio.delta",
        "response.responsiveness.audio.done",
        "input_audio_buffer.turn_suggestion",
        "input_audio_buffer.turn_suggestion_revoked",
        "response.memory.extracted",
        "conversation.item.input_audio_transcription.updated",
    }
)


class Phase(enum.Enum):
    """Where the session start-up stands (see the module docstring)."""

    AWAITING_INIT_ACK = "awaiting_init_ack"
    OPEN = "open"


def _dumps(event: dict[str, Any]) -> str:
    return orjson.dumps(event).decode()


class Translator:
    """Per-connection translation state; every method returns the commands to execute.

    Args:
        rules: the rewrite rules from the configuration.
        url_model: the client's `?model=` query value, if any.
    """

    def __init__(self, rules: Rules, *, url_model: str | None = None) -> None:
        self.rules = rules
        self.url_model = url_model
        self.phase = Phase.AWAITING_INIT_ACK
        self.names = ClientNames()
        self._held_created: dict[str, Any] | None = None
        self._created_sent = False
        self._function_names: dict[str, str] = {}  # call_id and item_id -> function name

    # -- client -> upstream ---------------------------------------------------------------

    def start(self) -> Sequence[Command]:
        """The proxy's initial `session.update`, to send as soon as the upstream is open."""
        session, self.names = initial_session(self.rules, self.url_model)
        event = {"type": "session.update", "event_id": new_event_id(), "session": session}
        return (ToUpstream(_dumps(event)),)

    def from_client(self, text: str) -> Sequence[Command]:
        """Translate one TEXT frame from the client."""
        if sniff_type(text) in _CLIENT_FAST:
            return (ToUpstream(text),)
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return (ToClient(error_text("The message is not valid JSON.", code="invalid_json")),)
        if not isinstance(event, dict):
            msg = "Each message must be a JSON object."
            return (ToClient(error_text(msg, code="invalid_event")),)
        kind = event.get("type")
        event_id = event.get("event_id")
        if not isinstance(kind, str):
            msg = "The 'type' field is missing or not a string."
            return (ToClient(error_text(msg, code="invalid_event", event_id=event_id)),)
        try:
            if kind == "session.update":
                check_session_types(event.get("session"))
                session = rewrite_session(self.rules, event.get("session"), self.names)
                return (ToUpstream(_dumps({**event, "session": session})),)
            if kind == "response.create":
                response = rewrite_response(self.rules, event.get("response"))
                if response is not None:
                    return (ToUpstream(_dumps({**event, "response": response})),)
        except SessionFieldError as exc:
            text = error_text(str(exc), code="invalid_type", param=exc.param, event_id=event_id)
            return (ToClient(text),)
        return (ToUpstream(text),)

    def from_client_binary(self, data: bytes) -> Sequence[Command]:
        """A BINARY frame from the client: OpenAI refuses those (`invalid_event`), so do we."""
        msg = "Expected a text WebSocket message; binary frames are not supported."
        return (ToClient(error_text(msg, code="invalid_event")),)

    # -- upstream -> client ---------------------------------------------------------------

    def from_upstream(self, text: str) -> Sequence[Command]:
        """Translate one TEXT frame from Inworld."""
        kind = sniff_type(text)
        if kind == "ping":  # Inworld's app-level keep-alive, not an OpenAI event
            return ()
        if kind in _UPSTREAM_FAST and self.phase is Phase.OPEN:
            return (ToClient(text),)
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return ()  # not an event a client could parse; Inworld never sends it on purpose
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return ()  # type-less legacy {"errorType": ...} frames (§3.3 #3)
        return self._upstream_event(event, text)

    def _upstream_event(self, event: dict[str, Any], text: str) -> Sequence[Command]:
        kind: str = event["type"]
        changed = False
        if kind in LEGACY_EVENT_NAMES:
            kind = event["type"] = LEGACY_EVENT_NAMES[kind]
            changed = True
        if kind == "ping":
            return ()
        if self.rules.drop_inworld_only_events and kind in INWORLD_ONLY_EVENTS:
            return ()
        if kind in ("session.created", "session.updated"):
            return self._session_event(event)
        out: list[Command] = []
        if self.phase is Phase.AWAITING_INIT_ACK:
            out.extend(self._flush_created())
            if kind == "error":  # the proxy's initial update was refused: the client must know
                self.phase = Phase.OPEN
        changed |= self._fix_event(kind, event)
        out.append(ToClient(_dumps(event) if changed else text))
        return out

    def _session_event(self, event: dict[str, Any]) -> Sequence[Command]:
        if self.rules.echo_client_names and "session" in event:
            event["session"] = show_client_names(event["session"], self.names)
        if self.phase is Phase.OPEN:
            return (ToClient(_dumps(event)),)
        if event["type"] == "session.created":
            self._held_created = event
            return ()
        # The answer to the proxy's own initial update: shown as the session's creation.
        self.phase = Phase.OPEN
        if self._created_sent:
            return ()
        self._created_sent = True
        return (ToClient(_dumps({**event, "type": "session.created"})),)

    def _flush_created(self) -> Sequence[Command]:
        if self._held_created is None or self._created_sent:
            return ()
        self._created_sent = True
        held, self._held_created = self._held_created, None
        return (ToClient(_dumps(held)),)

    def _fix_event(self, kind: str, event: dict[str, Any]) -> bool:
        """Apply in-place fix-ups to a server event; return True if it changed."""
        if kind in ("response.output_item.added", "conversation.item.added"):
            self._remember_function(event.get("item"))
        elif kind == "response.function_call_arguments.done" and not event.get("name"):
            # Inworld omits `name` here (§3.3 #1); clients dispatch tools by it.
            name = self._function_names.get(event.get("call_id") or "") or (
                self._function_names.get(event.get("item_id") or "")
            )
            if name:
                event["name"] = name
                return True
        elif kind == "response.done" and "usage" in event:
            # Some Inworld builds put usage at the top level (§3.3 #10); clients read
            # response.usage.
            usage = event.pop("usage")
            response = event.get("response")
            if isinstance(response, dict) and response.get("usage") is None:
                response["usage"] = usage
            return True
        return False

    def _remember_function(self, item: Any) -> None:
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return
        name = item.get("name")
        if isinstance(name, str) and name:
            for key in (item.get("call_id"), item.get("id")):
                if isinstance(key, str):
                    self._function_names[key] = name

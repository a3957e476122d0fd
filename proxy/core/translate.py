"""The sans-I/O translation core: one per client connection.

Frames go in as text, `Command`s come out (`proxy.core.commands`); nothing here does I/O, so whole
conversations are tested without sockets. The relay calls, in this order:

1. `start()` once the upstream socket is open: the proxy's own initial `session.update`.
2. `from_client(text)` / `from_client_binary(data)` for each client frame.
3. `from_upstream(text)` for each Inworld frame.

Forwarded unchanged: audio appends (up) and audio/transcript deltas (down) are recognised by
`proxy.core.sniff.sniff_type` and answered with `FORWARD` (`proxy.core.commands`): the relay
sends on the very bytes it received, nothing is parsed. Everything else is parsed, rewritten
where a rule applies, and re-serialised only when something changed; an event that a rule
left as it was is answered with `FORWARD` too. Each frame's question "forward unchanged?" is
asked once, here, and the answer allocates nothing. Frames may be given as `str` or as the
UTF-8 `bytes` received (the relay passes bytes); frames the core builds are UTF-8 `bytes`.

Session start (`docs/protocol-notes.md#openai-server-contract`: the client's first event is
`session.created`, and it sees nothing it did not cause): Inworld's own `session.created` is
held back; the answer to the proxy's initial `session.update` is shown to the client as
`session.created`, so the client sees the effective session and never an extra
`session.updated`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from proxy.config import Rules
from proxy.core.commands import FORWARD, Command, ToClient, ToUpstream
from proxy.core.correlate import Correlator
from proxy.core.dialect import (
    Dialect,
    beta_fast_rename,
    client_event_to_ga,
    is_ga_session,
    normalize_ga_content,
    server_event_to_beta,
)
from proxy.core.error_events import error_text, new_event_id
from proxy.core.events import (
    APPEND_PREFIXES,
    DELTA_PREFIXES,
    INWORLD_ONLY_EVENTS,
    LEGACY_EVENT_NAMES,
    UNCHANGED_FROM_CLIENT,
    UNCHANGED_FROM_UPSTREAM,
)
from proxy.core.input_audio import SERVER_EVENTS as INPUT_AUDIO_EVENTS
from proxy.core.input_audio import InputAudio
from proxy.core.locked import LOCKED_CODE, locked_refusal
from proxy.core.rewrite import (
    ClientNames,
    SessionFieldError,
    initial_session,
    merge_sessions,
    rewrite_response,
    rewrite_session,
    show_client_names,
    transcription_session,
)
from proxy.core.sniff import sniff_type
from proxy.core.validate import check_session_types

__all__ = ["Phase", "Translator"]


# What OpenAI shows as a transcription session's model when the client named none; the beta
# SDK's transcription session type accepts only OpenAI's names
# (docs/protocol-notes.md#openai-transcription).
_TRANSCRIBE_DEFAULT = "gpt-4o-transcribe"
_TRANSCRIBED = "conversation.item.input_audio_transcription.completed"


class Phase(enum.Enum):
    """Where the session start-up stands (see the module docstring)."""

    AWAITING_INIT_ACK = "awaiting_init_ack"
    OPEN = "open"


def _dumps(event: dict[str, Any]) -> bytes:
    """An event the core built or changed, as the UTF-8 payload of a TEXT frame."""
    return orjson.dumps(event)


class Translator:
    """Per-connection translation state; every method returns the commands to execute.

    Args:
        rules: the rewrite rules from the configuration.
        url_model: the client's `?model=` query value, if any.
        dialect: the client's dialect from its handshake (`proxy.core.dialect.detect_dialect`);
            a GA-shaped `session.update` switches a `beta` client to `ga`
            (`docs/protocol-notes.md#openai-dialects`).
        preset: a GA session config to apply from the start (an ephemeral token's).
        transcription: a transcription-only session (`?intent=transcription`); also set by a
            `session.update` of `type: "transcription"`
            (`proxy.core.rewrite.transcription_session`).
    """

    def __init__(
        self,
        rules: Rules,
        *,
        url_model: str | None = None,
        dialect: Dialect = "ga",
        preset: dict[str, Any] | None = None,
        transcription: bool = False,
    ) -> None:
        self.rules = rules
        self.url_model = url_model
        self.preset = preset
        self.transcription = transcription
        self.dialect: Dialect = dialect
        self.phase = Phase.AWAITING_INIT_ACK
        self.names = ClientNames()
        self._held_created: dict[str, Any] | None = None
        self._created_sent = False
        self._function_names: dict[str, str] = {}  # call_id and item_id -> function name
        self._correlator = Correlator()
        self._input = InputAudio(drop_vad_events=rules.drop_vad_events_without_turn_detection)
        # For metrics (read by the relay after each call): the last frame's `type` as received
        # (None: not JSON or no type) and the frame parsed, when it was parsed anyway.
        self.last_type: str | None = None
        self.last_event: dict[str, Any] | None = None
        self.rewrites: dict[str, int] = {}  # rewrite kind -> count
        self.refusals: dict[str, int] = {}  # error code -> client frames answered with it
        self.pinned: dict[str, Any] | None = None  # an ephemeral token's session (`lock()`)
        self.locked: tuple[str, ...] = ()

    def lock(self, pinned: dict[str, Any] | None, fields: Sequence[str]) -> None:
        """Refuse client events that change `fields` away from `pinned` (an ephemeral token's
        session): `proxy.core.locked`."""
        self.pinned, self.locked = pinned, tuple(fields)

    # -- client -> upstream ---------------------------------------------------------------

    def start(self) -> Sequence[Command]:
        """The proxy's initial `session.update`, to send as soon as the upstream is open."""
        session, self.names = initial_session(self.rules, self.url_model)
        if self.preset:
            try:
                preset = rewrite_session(self.rules, self.preset, self.names)
            except SessionFieldError:
                preset = {}  # minted from a malformed request: the defaults still apply
            session = merge_sessions(session, preset)
        if self.transcription or session.get("type") == "transcription":
            self.transcription = True
            session = transcription_session(session)
        self._tally("initial_session_update")
        event = {"type": "session.update", "event_id": new_event_id(), "session": session}
        return (ToUpstream(_dumps(event)),)

    def count_input_audio(self, seconds: Callable[[], float]) -> None:
        """Give the core the session's running total of input audio relayed, in seconds (the
        relay passes its metrics observer's). Read only on commits and clears, never per audio
        frame, for the `usage` of input transcriptions (`proxy.core.input_audio`)."""
        self._input.audio_seconds = seconds

    @property
    def append_prefixes(self) -> tuple[bytes, ...]:
        """Client frames that start with one of these are audio appends that go on unchanged:
        the relay may forward them without asking `from_client` (it tells the observer)."""
        return APPEND_PREFIXES

    @property
    def delta_prefixes(self) -> tuple[bytes, ...]:
        """Upstream frames that start with one of these are audio deltas that go on unchanged
        right now (none before the session is open, or for beta clients)."""
        return DELTA_PREFIXES if self.phase is Phase.OPEN and self.dialect == "ga" else ()

    def from_client(self, text: str | bytes) -> Sequence[Command]:
        """Translate one TEXT frame from the client: `FORWARD` when it goes on unchanged.

        Records `last_type` / `last_event` (the parsed event, when it was parsed) for the
        observer."""
        self.last_type = sniffed = sniff_type(text)
        self.last_event = None
        if sniffed in UNCHANGED_FROM_CLIENT:
            return FORWARD
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._refused("invalid_json")
            return (ToClient(error_text("The message is not valid JSON.", code="invalid_json")),)
        if not isinstance(event, dict):
            self._refused("invalid_event")
            msg = "Each message must be a JSON object."
            return (ToClient(error_text(msg, code="invalid_event")),)
        kind = event.get("type")
        event_id = event.get("event_id")
        if not isinstance(kind, str):
            self._refused("invalid_event")
            msg = "The 'type' field is missing or not a string."
            return (ToClient(error_text(msg, code="invalid_event", event_id=event_id)),)
        original = event
        if self.dialect == "beta":
            if kind == "session.update" and is_ga_session(event.get("session")):
                self.dialect = "ga"  # openai-node 5.17-5.23 GA classes sent the beta header
            else:
                event = client_event_to_ga(event)
                kind = event["type"]
                self._tally("beta_to_ga")
        self.last_type, self.last_event = kind, event
        if self.locked and (refusal := locked_refusal(self.pinned, self.locked, event)):
            self._refused(LOCKED_CODE)
            return (ToClient(refusal),)
        self._correlator.client_event(kind, event)
        self._input.client_event(kind)
        try:
            if kind == "session.update":
                session = event.get("session")
                check_session_types(session)
                if isinstance(session, dict) and session.get("type") == "transcription":
                    self.transcription = True
                    session = transcription_session(session)
                    self._tally("transcription_session")
                session = rewrite_session(self.rules, session, self.names)
                self._tally("session_update")
                return (ToUpstream(_dumps({**event, "session": session})),)
            if kind == "response.create":
                response = rewrite_response(self.rules, event.get("response"))
                if response is not None:
                    self._tally("response_voice")
                    return (ToUpstream(_dumps({**event, "response": response})),)
            return FORWARD if event is original else (ToUpstream(_dumps(event)),)
        except SessionFieldError as exc:
            self._refused("invalid_type")
            text = error_text(str(exc), code="invalid_type", param=exc.param, event_id=event_id)
            return (ToClient(text),)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes (254 levels)
            self._refused("invalid_json")
            msg = "The message is nested too deeply."
            return (ToClient(error_text(msg, code="invalid_json", event_id=event_id)),)

    @property
    def provider(self) -> str:
        """The upstream this session talks to, as error messages name it."""
        return "Inworld"

    @property
    def started(self) -> bool:
        """True once the upstream has started the session (the watchdog's start deadline):
        for Inworld, once it acknowledged the proxy's initial `session.update`."""
        return self.phase is Phase.OPEN

    def from_client_binary(self, data: bytes) -> Sequence[Command]:
        """A BINARY frame from the client: OpenAI refuses those (`invalid_event`), so do we."""
        self._refused("invalid_event")
        msg = "Expected a text WebSocket message; binary frames are not supported."
        return (ToClient(error_text(msg, code="invalid_event")),)

    # -- upstream -> client ---------------------------------------------------------------

    def from_upstream_binary(self, data: bytes) -> Sequence[Command]:
        """A BINARY frame from Inworld: it speaks TEXT only, so it has no OpenAI meaning and is
        dropped."""
        self._tally("invalid_dropped")
        return ()

    def from_upstream(self, text: str | bytes) -> Sequence[Command]:
        """Translate one TEXT frame from Inworld: `FORWARD` when it goes on unchanged."""
        self.last_type = kind = sniff_type(text)
        self.last_event = None
        if kind == "ping":  # Inworld's app-level keep-alive, not an OpenAI event
            self._tally("ping_dropped")
            return ()
        if kind in UNCHANGED_FROM_UPSTREAM and self.phase is Phase.OPEN:
            if self.dialect == "beta":
                return (ToClient(beta_fast_rename(kind, text)),)
            return FORWARD
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._tally("invalid_dropped")
            return ()  # not an event a client could parse; Inworld never sends it on purpose
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self._tally("invalid_dropped")
            # type-less {"errorType": ...} frames (docs/protocol-notes.md#inworld-errortype-frames)
            return ()
        self.last_type, self.last_event = event["type"], event
        try:
            return self._upstream_event(event, text)
        except (TypeError, ValueError, KeyError, AttributeError):  # orjson's errors included
            # A field no fix-up expected (an object where a string belongs, nesting too deep
            # to write): the frame goes on as received, or is dropped for a beta client.
            self._tally("upstream_malformed")
            return FORWARD if self.dialect == "ga" else ()

    def _upstream_event(self, event: dict[str, Any], text: str | bytes) -> Sequence[Command]:
        kind: str = event["type"]
        changed = False
        if kind in LEGACY_EVENT_NAMES:
            kind = event["type"] = LEGACY_EVENT_NAMES[kind]
            changed = True
            self._tally("legacy_rename")
        if kind == "ping":
            self._tally("ping_dropped")
            return ()
        if self.rules.drop_inworld_only_events and kind in INWORLD_ONLY_EVENTS:
            self._tally("inworld_only_dropped")
            return ()
        if kind in ("session.created", "session.updated"):
            return self._session_event(event)
        flushed: Sequence[Command] = ()
        if self.phase is Phase.AWAITING_INIT_ACK:
            flushed = self._flush_created()
            if kind == "error":  # the proxy's initial update was refused: the client must know
                self.phase = Phase.OPEN
        if kind in INPUT_AUDIO_EVENTS and self._input.server_event(kind, event):
            self._tally("vad_event_dropped")  # turn_detection: null (proxy.core.input_audio)
            return flushed
        changed |= self._fix_event(kind, event)
        sent = self._to_client(event, None if changed else text)
        return (*flushed, *sent) if flushed else sent

    def _to_client(
        self, event: dict[str, Any], text: str | bytes | None = None
    ) -> Sequence[Command]:
        """Emit a GA event in the client's dialect; `text` is its unchanged original, if any
        (then, for a GA client, the frame goes on as received: `FORWARD`)."""
        if self.dialect == "beta":
            beta = server_event_to_beta(event)
            return () if beta is None else (ToClient(_dumps(beta)),)
        return FORWARD if text is not None else (ToClient(_dumps(event)),)

    def _session_event(self, event: dict[str, Any]) -> Sequence[Command]:
        self._input.session(event.get("session"))
        if self.rules.echo_client_names and "session" in event:
            names = self.names
            if self.transcription and names.stt is None:  # OpenAI's default, not Inworld's id
                names = dataclasses.replace(names, stt=_TRANSCRIBE_DEFAULT)
            event["session"] = show_client_names(event["session"], names)
            self._tally("client_names")
        if self.transcription and isinstance(event.get("session"), dict):
            event["session"] = {**event["session"], "type": "transcription"}
        if self.phase is Phase.OPEN:
            return self._to_client(event)
        if event["type"] == "session.created":
            self._held_created = event
            return ()
        # The answer to the proxy's own initial update: shown as the session's creation.
        self.phase = Phase.OPEN
        if self._created_sent:
            return ()
        self._created_sent = True
        self._tally("session_created_handoff")
        return self._to_client({**event, "type": "session.created"})

    def _flush_created(self) -> Sequence[Command]:
        if self._held_created is None or self._created_sent:
            return ()
        self._created_sent = True
        held, self._held_created = self._held_created, None
        return self._to_client(held)

    def _fix_event(self, kind: str, event: dict[str, Any]) -> bool:
        """Apply in-place fix-ups to a server event; return True if it changed."""
        labels = normalize_ga_content(kind, event)
        if labels:
            self._tally("content_labels")
        return self._fix_fields(kind, event) or labels

    def _fix_fields(self, kind: str, event: dict[str, Any]) -> bool:
        if kind in ("response.output_item.added", "conversation.item.added"):
            self._remember_function(event.get("item"))
        elif kind == "response.function_call_arguments.done" and not event.get("name"):
            # Inworld omits `name` here (docs/protocol-notes.md#inworld-function-call-name);
            # clients dispatch tools by it.
            ids = [i for i in (event.get("call_id"), event.get("item_id")) if isinstance(i, str)]
            name = next((self._function_names[i] for i in ids if i in self._function_names), None)
            if name:
                event["name"] = name
                self._tally("function_name_added")
                return True
        elif kind in ("response.created", "response.done"):
            if self._correlator.fix_response(kind, event):
                self._tally("response_fixed")
                return True
        elif kind == "error" and self._correlator.fix_error(event):
            self._tally("error_event_id")
            return True
        elif kind == _TRANSCRIBED and self._input.fill_usage(event):
            # GA requires `usage`; Inworld omits it
            # (docs/protocol-notes.md#inworld-transcription-usage)
            self._tally("transcription_usage")
            return True
        return False

    def _tally(self, kind: str) -> None:
        self.rewrites[kind] = self.rewrites.get(kind, 0) + 1

    def _refused(self, code: str) -> None:
        self.refusals[code] = self.refusals.get(code, 0) + 1

    def _remember_function(self, item: Any) -> None:
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return
        name = item.get("name")
        if isinstance(name, str) and name:
            for key in (item.get("call_id"), item.get("id")):
                if isinstance(key, str):
                    self._function_names[key] = name

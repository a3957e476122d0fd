"""The emulated Inworld realtime session: a pure (sans-I/O) state machine.

Feed it client frames, send what it returns. It imports neither asyncio nor aiohttp; the
shell (``server.py``) owns sockets, pacing and keep-alive. Behaviour follows reference §10
("Emulator behaviour") with GA event names.

Contract for the shell:
    1. ``open()`` once, send its events (``session.created``).
    2. For each client TEXT frame ``receive_text(raw)``, each BINARY frame
       ``receive_binary(data)``; send the returned events in order.
    3. While ``has_pending_response``: send ``next_response_batch()``, pausing between batches
       as it likes. A later ``receive_*`` may cancel the response (barge-in, ``response.cancel``);
       the cancellation's ``response.done`` comes back from that ``receive_*`` call.
"""

import base64
import binascii
import copy
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from .conversation import Conversation
from .errors import RequestError, error_event
from .ids import Event, IdFactory
from .input_audio import InputAudioBuffer
from .items import create_item, delete_item, retrieve_item, truncate_item
from .replies import plan_reply
from .responses import ResponseRun, new_response
from .session import default_session, merge_update
from .settings import EmulatorSettings

__all__ = ["EmulatorSession"]

_Handler = Callable[[Event], list[Event]]


class EmulatorSession:
    """One emulated Inworld realtime session (one WebSocket connection).

    Inspectable state for tests: ``session_config`` (effective session), ``items``
    (conversation), ``client_events`` (received, audio elided), ``updates_received`` /
    ``updates_applied``, ``ignored_fields``, ``errors`` / ``last_error``, ``unknown_events``.
    """

    def __init__(
        self,
        settings: EmulatorSettings,
        session_key: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Create a session; ids are seeded from ``session_key``; ``clock`` gives Unix time."""
        self.settings = settings
        self.session_key = session_key
        self._ids = IdFactory(session_key)
        # pings come on a timer: a separate id stream keeps the others independent of timing
        self._ping_ids = IdFactory(session_key + "/ping")
        self._clock = clock
        self.session_config: Event = {}
        """The effective session object (as last sent in ``session.created``/``.updated``)."""
        self.conversation = Conversation()
        self.updates_received = 0
        """``session.update`` events received, rejected ones included."""
        self.updates_applied = 0
        self.ignored_fields: list[str] = []
        """Unknown top-level session fields dropped from updates, in arrival order."""
        self.errors: list[Event] = []
        """Every ``error`` event sent."""
        self.unknown_events: list[str] = []
        """Types of client events that were not recognised."""
        self.client_events: deque[Event] = deque(maxlen=settings.max_recorded_events)
        """Client events received (``audio`` replaced by its length), newest last."""
        self._opened = False
        self._active: ResponseRun | None = None
        self._heard: dict[str, str] = {}  # user audio item id -> what the fake STT heard
        self._audio = InputAudioBuffer(
            threshold=settings.vad_threshold, min_speech_ms=settings.vad_min_speech_ms
        )
        self._handlers: dict[str, _Handler] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit_request,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_op(create_item),
            "conversation.item.delete": self._item_op(delete_item),
            "conversation.item.retrieve": self._item_op(retrieve_item),
            "conversation.item.truncate": self._item_op(truncate_item),
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }

    # -- inspection --------------------------------------------------------------------------

    @property
    def items(self) -> list[Event]:
        """The conversation items, in order (live; do not modify)."""
        return self.conversation.items

    @property
    def last_error(self) -> Event | None:
        """The ``error`` payload of the last error event sent, if any."""
        if not self.errors:
            return None
        payload: Event = self.errors[-1]["error"]
        return payload

    @property
    def client_event_types(self) -> list[str]:
        """Types of the recorded client events, in arrival order."""
        return [str(e.get("type")) for e in self.client_events]

    @property
    def has_pending_response(self) -> bool:
        """Whether a response is in flight (``next_response_batch()`` has more to give)."""
        return self._active is not None

    # -- shell API ---------------------------------------------------------------------------

    def open(self) -> list[Event]:
        """Start the session: returns ``[session.created]`` (§1.4). Call exactly once."""
        if self._opened:
            raise RuntimeError("session already open")
        self._opened = True
        self.session_config = default_session(
            self.settings, session_id=self._ids.uuid(), now=self._clock()
        )
        return [self._ids.event("session.created", session=copy.deepcopy(self.session_config))]

    def receive_text(self, raw: str | bytes) -> list[Event]:
        """Handle one client TEXT frame; return the events to send now (possibly none).

        Bad JSON and rejected requests yield one ``error`` event (with the client's
        ``event_id`` when it had one); the session stays usable (§3.4).
        """
        self._require_open()
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return [self._error(RequestError("Failed to parse message", code=None))]  # §10
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            message = "Invalid event: expected a JSON object with a string 'type'."
            return [self._error(RequestError(message, code="invalid_event", param="type"))]
        self._record(event)
        event_id = event.get("event_id")
        client_event_id = event_id if isinstance(event_id, str) else None
        handler = self._handlers.get(event["type"])
        try:
            if handler is not None:
                return handler(event)
            self.unknown_events.append(event["type"])  # §4: the prototype logs and ignores
            if not self.settings.unknown_event_error:
                return []
            message = f"Unknown event type: '{event['type']}'."
            raise RequestError(message, code="invalid_value", param="type")
        except RequestError as exc:
            return [self._error(exc, client_event_id)]

    def receive_binary(self, data: bytes) -> list[Event]:
        """Handle a BINARY frame: recorded as ``<binary frame>`` and answered with an error
        (the API is JSON text frames only; Inworld's behaviour here is unknown)."""
        self._require_open()
        self.client_events.append({"type": "<binary frame>", "size": len(data)})
        message = "Binary frames are not supported; send JSON text frames."
        return [self._error(RequestError(message, code="invalid_event"))]

    def next_response_batch(self) -> list[Event]:
        """Events of the in-flight response up to and including its next delta; the last batch
        ends with ``response.done``. [] when no response is pending."""
        if self._active is None:
            return []
        batch = self._active.next_batch()
        if self._active.done:
            self._active = None
        return batch

    def drain_response(self) -> list[Event]:
        """All remaining events of the in-flight response (convenience for tests)."""
        events: list[Event] = []
        while self._active is not None:
            events += self.next_response_batch()
        return events

    def ping(self, timestamp_ms: int) -> Event:
        """An app-level keep-alive frame ``{type:"ping", event_id, timestamp}`` (§1.4)."""
        return self._ping_ids.event("ping", timestamp=timestamp_ms)

    # -- handlers (raise RequestError to reject) ----------------------------------------------

    def _session_update(self, event: Event) -> list[Event]:
        """§2.2: validate everything, apply all or nothing, answer with the full session."""
        self.updates_received += 1
        merged, ignored = merge_update(self.session_config, event.get("session"), self.settings)
        self.session_config = merged
        self.updates_applied += 1
        self.ignored_fields += ignored
        return [self._ids.event("session.updated", session=copy.deepcopy(merged))]

    def _append(self, event: Event) -> list[Event]:
        """Buffer audio (no ack, §4) and run the VAD over it (§10 "Server-VAD turn")."""
        audio = event.get("audio")
        try:
            pcm = base64.b64decode(audio if isinstance(audio, str) else "?", validate=True)
        except (binascii.Error, ValueError):  # ValueError: non-ASCII text
            message = "Invalid 'audio': expected base64-encoded PCM16 audio."
            raise RequestError(message, code="invalid_value", param="audio") from None
        turn = self._turn_detection()
        announce = turn is not None or self.settings.vad_events_without_turn_detection
        silence = turn.get("silence_duration_ms") if turn is not None else None
        if not isinstance(silence, int) or silence <= 0:
            silence = self.settings.default_silence_ms
        events: list[Event] = []
        for boundary in self._audio.feed(pcm, silence_ms=silence, ids=self._ids):
            started = boundary.vad.kind == "speech_started"
            if announce:
                field = "audio_start_ms" if started else "audio_end_ms"
                events.append(
                    self._ids.event(
                        f"input_audio_buffer.{boundary.vad.kind}",
                        **{field: boundary.vad.ms, "item_id": boundary.item_id},
                    )
                )
            if turn is None:
                continue  # manual turns: boundaries are informational only
            if started:
                # §10 "Barge-in": speech during a response cancels it when interrupt_response
                if turn.get("interrupt_response", True) and self._active is not None:
                    events += self._active.cancel("turn_detected")
                    self._active = None
                continue
            events += self._commit()
            if turn.get("create_response", True) and self._active is None:
                self._start_response({})
        return events

    def _commit_request(self, event: Event) -> list[Event]:
        """Manual turn (§10): commit the buffered audio as a user item."""
        if self._audio.empty:
            raise RequestError(
                "Error committing input audio buffer: no active audio stream (buffer empty).",
                code="input_audio_buffer_commit_empty",
            )
        return self._commit()

    def _clear(self, event: Event) -> list[Event]:
        """Drop buffered audio and any speech in progress."""
        self._audio.clear()
        return [self._ids.event("input_audio_buffer.cleared")]

    def _item_op(
        self, operation: Callable[[Conversation, IdFactory, Event], list[Event]]
    ) -> _Handler:
        """Bind an ``items`` operation to this session's conversation and ids."""
        return lambda event: operation(self.conversation, self._ids, event)

    def _response_create(self, event: Event) -> list[Event]:
        """Start a response; its events come from ``next_response_batch()``."""
        if self._active is not None:
            raise RequestError(
                "Conversation already has an active response in progress: "
                f"{self._active.response_id}. Wait until the response is finished before "
                "creating a new one.",
                code="conversation_already_has_active_response",
            )
        request = event.get("response")
        self._start_response(request if isinstance(request, Mapping) else {})
        return []

    def _response_cancel(self, event: Event) -> list[Event]:
        """§10 "Cancel": active → ``response.done`` cancelled; idle → error."""
        wanted = event.get("response_id")
        if self._active is None or (wanted is not None and wanted != self._active.response_id):
            raise RequestError(
                "Cancellation failed: no active response found.",
                code="response_cancel_not_active",
            )
        events = self._active.cancel("client_cancelled")
        self._active = None
        return events

    # -- helpers -----------------------------------------------------------------------------

    def _start_response(self, request: Mapping[str, Any]) -> None:
        """Plan the reply and make it the active response (tools may be overridden per
        response; everything else comes from the session)."""
        cfg = self.session_config
        plan = plan_reply(
            self.conversation,
            self._heard,
            request.get("tools", cfg.get("tools")),
            request.get("tool_choice", cfg.get("tool_choice")),
        )
        instructions = cfg.get("instructions")
        chars = self.conversation.text_chars() + len(str(instructions or ""))
        self._active = ResponseRun(
            ids=self._ids,
            settings=self.settings,
            conversation=self.conversation,
            plan=plan,
            response=new_response(
                self._ids, cfg, request, echo_metadata=self.settings.echo_response_metadata
            ),
            input_tokens=chars // 4 + 1,
        )

    def _commit(self) -> list[Event]:
        """Commit the buffer as a user item; the fake STT "heard" ``input_transcript`` if the
        VAD detected speech in it, else nothing (§10 "Server-VAD turn" event order)."""
        heard = self.settings.input_transcript if self._audio.heard_speech else ""
        item_id, events = self._audio.commit(
            self.conversation,
            self._ids,
            transcript=heard,
            transcribe=self.session_config["audio"]["input"].get("transcription") is not None,
        )
        self._heard[item_id] = heard
        return events

    def _turn_detection(self) -> Mapping[str, Any] | None:
        """The effective ``audio.input.turn_detection`` object, or None for manual turns."""
        turn = self.session_config["audio"]["input"].get("turn_detection")
        return turn if isinstance(turn, Mapping) else None

    def _record(self, event: Event) -> None:
        """Keep the client event for inspection, with base64 audio replaced by its length."""
        if isinstance(event.get("audio"), str):
            event = {**event, "audio": f"<{len(event['audio'])} base64 chars>"}
        self.client_events.append(event)

    def _error(self, exc: RequestError, client_event_id: str | None = None) -> Event:
        event = error_event(self._ids, exc, client_event_id)
        self.errors.append(event)
        return event

    def _require_open(self) -> None:
        if not self._opened:
            raise RuntimeError("call open() before feeding client frames")

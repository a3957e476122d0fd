"""The emulated Inworld realtime session: a pure (sans-I/O) state machine.

Feed it client frames, send what it returns. It imports neither asyncio nor aiohttp; the
shell (``server.py``) owns sockets, pacing and keep-alive. Behaviour follows docs/emulator.md
with GA event names; ``#name`` below is a section of docs/protocol-notes.md.

Contract for the shell:
    1. ``open()`` once, send its events (``session.created``).
    2. For each client TEXT frame ``receive_text(raw)``, each BINARY frame
       ``receive_binary(data)``; send the returned events in order.
    3. While ``has_pending_response``: send ``next_response_batch()``, pausing between batches
       as it likes. A later ``receive_*`` may cancel the response (barge-in, ``response.cancel``);
       the cancellation's ``response.done`` comes back from that ``receive_*`` call, or, with
       ``settings.cancel_ms``, from the first ``next_response_batch()`` once that much time
       has passed (``cancel_wait`` says how long that is; the response streams on meanwhile).
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
        custom_voice: Callable[[str], bool] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create a session; ids are seeded from ``session_key``; ``clock`` gives Unix time;
        ``custom_voice`` (optional) decides which ``<workspace>__<name>`` voices exist;
        ``monotonic`` times a delayed cancellation (``settings.cancel_ms``)."""
        self.settings = settings
        self._custom_voice = custom_voice
        self.session_key = session_key
        self._ids = IdFactory(session_key)
        # pings come on a timer: a separate id stream keeps the others independent of timing
        self._ping_ids = IdFactory(session_key + "/ping")
        self._clock = clock
        self._monotonic = monotonic
        self._cancel_due: tuple[str, float] | None = None  # (reason, when) of a delayed cancel
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

    @property
    def active_response_id(self) -> str | None:
        """The ``resp_...`` id of the response in flight, if any."""
        return self._active.response_id if self._active is not None else None

    @property
    def cancel_wait(self) -> float | None:
        """Seconds until a delayed cancellation falls due (0: due now); None when none waits."""
        if self._cancel_due is None:
            return None
        return max(0.0, self._cancel_due[1] - self._monotonic())

    # -- shell API ---------------------------------------------------------------------------

    def open(self) -> list[Event]:
        """Start the session: returns ``[session.created]`` (``#inworld-session-lifecycle``).
        Call exactly once."""
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
        ``event_id`` when it had one); the session stays usable (``#inworld-errors``).
        """
        self._require_open()
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:  # docs/emulator.md#other-events
            return [self._error(RequestError("Failed to parse message", code=None))]
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
            # the prototype logs and ignores (``#inworld-client-events``)
            self.unknown_events.append(event["type"])
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
        if self._cancel_due is not None and self._monotonic() >= self._cancel_due[1]:
            return self._stop_now()
        batch = self._active.next_batch()
        if self._active.done:
            self._active = None
            self._cancel_due = None
        return batch

    def drain_response(self) -> list[Event]:
        """All remaining events of the in-flight response (convenience for tests)."""
        events: list[Event] = []
        while self._active is not None:
            events += self.next_response_batch()
        return events

    def ping(self, timestamp_ms: int) -> Event:
        """An app-level keep-alive frame ``{type:"ping", event_id, timestamp}``
        (``#inworld-session-lifecycle``)."""
        return self._ping_ids.event("ping", timestamp=timestamp_ms)

    # -- handlers (raise RequestError to reject) ----------------------------------------------

    def _session_update(self, event: Event) -> list[Event]:
        """Validate everything, apply all or nothing, answer with the full session
        (``#inworld-session-update``)."""
        self.updates_received += 1
        merged, ignored = merge_update(
            self.session_config, event.get("session"), self.settings, self._custom_voice
        )
        self.session_config = merged
        self.updates_applied += 1
        self.ignored_fields += ignored
        return [self._ids.event("session.updated", session=copy.deepcopy(merged))]

    def _append(self, event: Event) -> list[Event]:
        """Buffer audio (no ack, ``#inworld-client-events``) and run the VAD over it
        (docs/emulator.md#voice-turns)."""
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
                # Barge-in (docs/emulator.md#barge-in-and-cancel): speech during a response
                # cancels it when interrupt_response
                if turn.get("interrupt_response", True) and self._active is not None:
                    events += self._interrupt("turn_detected")
                continue
            if self._cancel_due is not None:  # the user's turn ended: the old reply stops now
                events += self._stop_now()
            events += self._commit()
            if turn.get("create_response", True) and self._active is None:
                self._start_response({})
        return events

    def _commit_request(self, event: Event) -> list[Event]:
        """Manual turn (docs/emulator.md#voice-turns): commit the buffered audio as a user item."""
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
        """Active → ``response.done`` cancelled; idle → error
        (docs/emulator.md#barge-in-and-cancel)."""
        wanted = event.get("response_id")
        if self._active is None or (wanted is not None and wanted != self._active.response_id):
            raise RequestError(
                "Cancellation failed: no active response found.",
                code="response_cancel_not_active",
            )
        return self._interrupt("client_cancelled")

    # -- helpers -----------------------------------------------------------------------------

    def _interrupt(self, reason: str) -> list[Event]:
        """Cancel the active response: now, or ``settings.cancel_ms`` from now (latency
        profile, docs/emulator.md#latency-profile; a second request changes nothing)."""
        assert self._active is not None
        if not self.settings.cancel_ms:
            events = self._active.cancel(reason)
            self._active = None
            return events
        if self._cancel_due is None:
            self._cancel_due = (reason, self._monotonic() + self.settings.cancel_ms / 1000)
        return []

    def _stop_now(self) -> list[Event]:
        """Carry out the delayed cancellation."""
        assert self._active is not None
        assert self._cancel_due is not None
        reason, _ = self._cancel_due
        self._cancel_due = None
        events = self._active.cancel(reason)
        self._active = None
        return events

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
        VAD detected speech in it, else nothing (event order: docs/emulator.md#voice-turns)."""
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

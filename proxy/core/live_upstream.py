"""Inworld's server events for a Live client (pure; part of `proxy.core.live`).

docs/protocol-notes.md#openai-live-mapping: `session.updated` answers the proxy's own updates
(the first is the client's `session.start`: `session.started`, or a refusal when Inworld
changed the audio format); `error` goes to the client with the `client_event_id` of the
command behind it (`EventBook`); VAD, transcription, response and function-call events feed the
timeline (`proxy.core.live_output`) and the delegations (`proxy.core.live_delegation`); the
rest (`session.created`, `conversation.item.*`, `ping`, rate limits, Inworld-only events) is
dropped. Audio deltas take a path without parsing: their `delta`, `item_id` and `response_id`
are sliced from the frame (`proxy.core.live_audio.string_value`).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from proxy.core.commands import CloseClient, ToClient, ToUpstream
from proxy.core.events import LEGACY_EVENT_NAMES
from proxy.core.live_audio import string_value
from proxy.core.live_events import LiveCommand, live_error, session_event, transcript_delta
from proxy.core.live_session import live_param
from proxy.core.sniff import sniff_type

if TYPE_CHECKING:
    from proxy.core.live import LiveTranslator

__all__ = ["EventBook", "UpstreamEvents"]

_DELTA = "response.output_audio.delta"
_REMEMBERED = 256  # event ids remembered for Inworld's errors
_SPANS = 32  # user turns whose speech span waits for its transcript
_OPEN = frozenset({"session.updated", "error", "session.created"})  # before session.started
_Handler = Callable[["UpstreamEvents", dict[str, Any]], list[LiveCommand]]


class EventBook:
    """The events the proxy sent Inworld, by the `event_id` it gave them (`live_<n>`): what
    each was for (`start`, `update`, `input`, `command`, `internal`) and the client's
    `event_id` behind it; and the `session.update`s still waiting for `session.updated`."""

    def __init__(self) -> None:
        self._n = 0
        self._sent: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self.updates: deque[str] = deque()

    def up(self, event: dict[str, Any], kind: str, cid: Any) -> ToUpstream:
        """`event` for Inworld, with its own id, remembered (the oldest are forgotten)."""
        self._n += 1
        event_id = event["event_id"] = f"live_{self._n}"
        self._sent[event_id] = (kind, cid)
        while len(self._sent) > _REMEMBERED:
            self._sent.popitem(last=False)
        if event["type"] == "session.update":
            self.updates.append(event_id)
            if len(self.updates) > _REMEMBERED:  # Inworld answers each; this is a bound only
                self.updates.popleft()
        return ToUpstream(orjson.dumps(event))

    def answered(self, event_id: Any) -> tuple[str | None, Any]:
        """(kind, client event id) of a sent event Inworld answered; (None, None) if unknown."""
        if not isinstance(event_id, str):
            return None, None
        if event_id in self.updates:
            self.updates.remove(event_id)
        return self._sent.pop(event_id, (None, None))

    def next_update(self) -> tuple[str | None, Any]:
        """What the oldest unanswered `session.update` was for (a `session.updated` came)."""
        return self.answered(self.updates[0]) if self.updates else ("internal", None)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


def _same_format(wanted: dict[str, Any], session: Any) -> bool:
    """Inworld kept the Live format (an absent format is taken as kept)."""
    audio = session.get("audio") if isinstance(session, dict) else None
    for side in ("input", "output"):
        part = audio.get(side) if isinstance(audio, dict) else None
        got = part.get("format") if isinstance(part, dict) else None
        if isinstance(got, dict) and (
            got.get("type") != wanted["type"] or got.get("rate", wanted["rate"]) != wanted["rate"]
        ):
            return False
    return True


class UpstreamEvents:
    """Inworld's events for one `LiveTranslator` (its input-timeline state lives here)."""

    def __init__(self, live: LiveTranslator) -> None:
        self.live = live
        self._spans: dict[str, list[int]] = {}  # input item -> [start_ms, end_ms]
        self._transcribed: set[str] = set()  # input items that had transcript deltas

    def handle(self, data: bytes) -> list[LiveCommand]:
        """One TEXT message from Inworld."""
        live = self.live
        live.last_event = None
        sniffed = sniff_type(data)
        kind = live.last_type = LEGACY_EVENT_NAMES.get(sniffed, sniffed) if sniffed else None
        if kind == _DELTA and live.phase == "started":
            b64 = string_value(data, b"delta")
            if b64 is not None:
                item, response = string_value(data, b"item_id"), string_value(data, b"response_id")
                return live.output.audio(b64, _text(item), _text(response))
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return []
        name: str = LEGACY_EVENT_NAMES.get(event["type"]) or event["type"]
        live.last_type, live.last_event = name, event
        if live.phase != "started" and name not in _OPEN:
            return []
        handler = _HANDLERS.get(name)
        return handler(self, event) if handler is not None else []

    # -- session and errors ------------------------------------------------------------------

    def _session_updated(self, event: dict[str, Any]) -> list[LiveCommand]:
        live = self.live
        kind, cid = live.book.next_update()
        if kind == "start" and live.phase == "starting":
            assert live.start is not None
            if not _same_format(live.start.audio_format, event.get("session")):
                live.phase = "closed"
                message = (
                    "Inworld does not serve this audio format (it answered with another); "
                    "use audio/pcm at 24000 Hz."
                )
                refused = live.refuse(
                    message, "unsupported_audio_format", param="session.audio.format", cid=cid
                )
                return [*refused, CloseClient(1008, "session.start refused")]
            live.phase = "started"
            return [ToClient(session_event("session.started", live.resource, cid))]
        if kind == "update":
            return [ToClient(session_event("session.updated", live.resource, cid))]
        return []

    def _error(self, event: dict[str, Any]) -> list[LiveCommand]:
        live = self.live
        error = event.get("error")
        error = error if isinstance(error, dict) else {}
        kind, cid = live.book.answered(error.get("event_id"))
        code = _text(error.get("code")) or "upstream_error"
        error_type = _text(error.get("type")) or "server_error"
        message = str(error.get("message") or "Inworld reported an error.")[:1000]
        param = "session.input" if kind == "input" else live_param(error.get("param"))
        if live.phase == "starting" and kind in ("start", None):
            live.phase = "closed"
            text = f"Inworld refused the session: {message}"
            refused = live_error(
                text, code=code, error_type=error_type, param=param, client_event_id=live.start_id
            )
            return [ToClient(refused), CloseClient(1008, "session.start refused")]
        if kind == "internal":
            return []  # the proxy's own housekeeping (truncation): nothing the client asked
        return [
            ToClient(
                live_error(
                    message, code=code, error_type=error_type, param=param, client_event_id=cid
                )
            )
        ]

    # -- the user's speech -------------------------------------------------------------------

    def _position(self, audio_ms: Any) -> int:
        """Timeline ms of a position on Inworld's input audio clock (its first append is at
        `input_origin`), never later than now (a client may send audio faster than real
        time; what Inworld reports has been heard by now)."""
        output = self.live.output
        origin, now = self.live.input_origin, output.ms()
        if origin is None or not isinstance(audio_ms, int):
            return now
        return min(output.ms(origin) + audio_ms, now)

    def _speech_started(self, event: dict[str, Any]) -> list[LiveCommand]:
        item = event.get("item_id")
        if isinstance(item, str):
            at = self._position(event.get("audio_start_ms"))
            self._spans[item] = [at, at]
            for old in list(self._spans)[:-_SPANS]:  # turns whose transcript never came
                del self._spans[old]
                self._transcribed.discard(old)
        commands, heard = self.live.output.interrupt()
        out = list(commands)
        for item_id, ms in heard:
            truncate: dict[str, Any] = {"type": "conversation.item.truncate", "item_id": item_id}
            truncate.update(content_index=0, audio_end_ms=ms)
            out.append(self.live.book.up(truncate, "internal", None))
        return out

    def _speech_stopped(self, event: dict[str, Any]) -> list[LiveCommand]:
        span = self._spans.get(str(event.get("item_id")))
        if span is not None:
            span[1] = max(self._position(event.get("audio_end_ms")), span[0])
        return []

    def _input_delta(self, event: dict[str, Any]) -> list[LiveCommand]:
        item, delta = event.get("item_id"), event.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        if isinstance(item, str):
            self._transcribed.add(item)
        now = self.live.output.ms()
        start, end = self._spans.get(str(item), [now, now])
        return [ToClient(transcript_delta("session.input_transcript.delta", delta, start, end))]

    def _input_done(self, event: dict[str, Any]) -> list[LiveCommand]:
        item, text = event.get("item_id"), event.get("transcript")
        out: list[LiveCommand] = []
        if isinstance(text, str) and text and item not in self._transcribed:
            out = self._input_delta({"item_id": item, "delta": text})
        if isinstance(item, str):
            self._spans.pop(item, None)
            self._transcribed.discard(item)
        return out

    # -- the model's output ------------------------------------------------------------------

    def _response_created(self, event: dict[str, Any]) -> list[LiveCommand]:
        response = event.get("response")
        rid = response.get("id") if isinstance(response, dict) else None
        if not isinstance(rid, str):
            return []
        self.live.output.response_started(rid)
        return [ToClient(e) for e in self.live.delegations.response_created(rid)]

    def _item_added(self, event: dict[str, Any]) -> list[LiveCommand]:
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return []
        rid = event.get("response_id")
        added = self.live.delegations.call_added(rid if isinstance(rid, str) else None, item)
        return [ToClient(e) for e in added]

    def _item_done(self, event: dict[str, Any]) -> list[LiveCommand]:
        item = event.get("item")
        if not isinstance(item, dict):
            return []
        if item.get("type") == "function_call":
            return [ToClient(e) for e in self.live.delegations.call_done(item)]
        return self.live.output.item_done(_text(item.get("id")))

    def _transcript(self, event: dict[str, Any]) -> list[LiveCommand]:
        delta = event.get("delta")
        if isinstance(delta, str):
            self.live.output.transcript(delta, _text(event.get("item_id")))
        return []

    def _audio_done(self, event: dict[str, Any]) -> list[LiveCommand]:
        return self.live.output.item_done(_text(event.get("item_id")))

    def _audio(self, event: dict[str, Any]) -> list[LiveCommand]:
        """An audio delta the slicing path could not read (escaped text): parsed."""
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta.isascii():
            return []
        item, response = _text(event.get("item_id")), _text(event.get("response_id"))
        return self.live.output.audio(delta.encode(), item, response)

    def _text_delta(self, event: dict[str, Any]) -> list[LiveCommand]:
        delta = event.get("delta")
        if not isinstance(delta, str):
            return []
        return self.live.output.text_now(delta, _text(event.get("item_id")))

    def _response_done(self, event: dict[str, Any]) -> list[LiveCommand]:
        response = event.get("response")
        if not isinstance(response, dict):
            return []
        output = self.live.output
        output.response_done(_text(response.get("id")))
        output.forget_played()
        out: list[LiveCommand] = []
        for item in response.get("output") or []:
            if isinstance(item, dict):
                out += output.item_done(_text(item.get("id")))
        return out + [ToClient(e) for e in self.live.delegations.response_done(response)]


_HANDLERS: dict[str, _Handler] = {
    "session.updated": UpstreamEvents._session_updated,
    "error": UpstreamEvents._error,
    "input_audio_buffer.speech_started": UpstreamEvents._speech_started,
    "input_audio_buffer.speech_stopped": UpstreamEvents._speech_stopped,
    "conversation.item.input_audio_transcription.delta": UpstreamEvents._input_delta,
    "conversation.item.input_audio_transcription.completed": UpstreamEvents._input_done,
    "response.created": UpstreamEvents._response_created,
    "response.output_item.added": UpstreamEvents._item_added,
    "response.output_item.done": UpstreamEvents._item_done,
    "response.output_audio_transcript.delta": UpstreamEvents._transcript,
    "response.output_audio_transcript.done": UpstreamEvents._audio_done,
    "response.output_audio.done": UpstreamEvents._audio_done,
    "response.output_audio.delta": UpstreamEvents._audio,
    "response.output_text.delta": UpstreamEvents._text_delta,
    "response.done": UpstreamEvents._response_done,
}

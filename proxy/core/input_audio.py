"""The input audio buffer's server events, where Inworld differs from OpenAI (pure).

Voice activity events with manual turns: OpenAI sends no `input_audio_buffer.speech_started` /
`speech_stopped` while the session has `turn_detection: null`; Inworld sends them regardless
(docs/protocol-notes.md#inworld-vad-events), and OpenAI clients take `speech_started` for a
barge-in (openai-realtime-api turns it into `conversation.interrupted`).
`InputAudio.server_event` says to drop them while the effective session (Inworld's
`session.created` / `session.updated`) has `turn_detection: null`, when
`translation.drop_vad_events_without_turn_detection` is on.

Transcription `usage`: OpenAI's `conversation.item.input_audio_transcription.completed`
carries `usage`, either `{"type": "tokens", ...}` or `{"type": "duration", "seconds": ...}`,
and openai-python's GA types require it (docs/protocol-notes.md#openai-transcription).
Inworld's event has no `usage` (docs/protocol-notes.md#inworld-transcription-usage).
`InputAudio.fill_usage` fills it in as the duration of the audio the proxy relayed for that
item; a `usage` Inworld does send is kept (token counts without a `type` get
`"type": "tokens"`).

Audio appends never reach the core (the relay forwards them by their first bytes), so the
audio is measured without touching them:

- an item committed by the client's `input_audio_buffer.commit`: the input audio relayed
  between the previous boundary (commit, clear, or a server commit) and that commit, read from
  the relay's running audio counter (`audio_seconds`, kept by the metrics observer) when the
  commit passes through;
- an item committed by the server (voice activity detection): `audio_end_ms -
  audio_start_ms` of its `input_audio_buffer.speech_stopped` / `speech_started` events
  (docs/protocol-notes.md#inworld-server-events); without both, the counter since the
  previous boundary.

A client commit is matched to the next `input_audio_buffer.committed`; one Inworld refuses
(`input_audio_buffer_commit_empty`) is forgotten. Everything kept is bounded.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

__all__ = ["SERVER_EVENTS", "InputAudio"]

_KEEP = 64  # items remembered (transcripts arrive shortly after their commit)
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "total_tokens")
_VAD_EVENTS = frozenset({"input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"})
SERVER_EVENTS = _VAD_EVENTS | {"input_audio_buffer.committed", "error"}
"""The server events `InputAudio.server_event` wants to see (none is on the audio hot path)."""


def _no_audio() -> float:
    return 0.0


def _remember(store: OrderedDict[str, Any], key: str, value: Any) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > _KEEP:
        store.popitem(last=False)


def _check_usage(usage: Any) -> bool | None:
    """None when `usage` has neither GA shape; else whether it had to change: token counts
    without a `type` get `"type": "tokens"` in place."""
    if not isinstance(usage, dict):
        return None
    kind = usage.get("type")
    if kind == "duration":
        seconds = usage.get("seconds")
        valid = isinstance(seconds, int | float) and not isinstance(seconds, bool)
        return False if valid else None
    if kind not in ("tokens", None) or not all(
        isinstance(usage.get(f), int) and not isinstance(usage.get(f), bool) for f in _TOKEN_FIELDS
    ):
        return None
    if kind is None:
        usage["type"] = "tokens"
        return True
    return False


class InputAudio:
    """Per-connection bookkeeping of the input audio buffer.

    Args:
        drop_vad_events: drop voice activity events while turns are manual.
        audio_seconds: seconds of input audio relayed to the upstream so far this session
            (a running total; called only on commits, clears and server commits, never per
            audio frame). Settable later as the attribute of that name.
    """

    def __init__(
        self, *, drop_vad_events: bool, audio_seconds: Callable[[], float] = _no_audio
    ) -> None:
        self.drop_vad_events = drop_vad_events
        self.audio_seconds = audio_seconds
        self.manual_turns = False  # the effective session has `turn_detection: null`
        self._boundary = 0.0  # the counter at the last commit, clear or server commit
        self._pending: deque[float] = deque(maxlen=16)  # client commits awaiting `committed`
        self._speech: OrderedDict[str, list[int | None]] = OrderedDict()  # item -> [start, end]
        self._seconds: OrderedDict[str, float] = OrderedDict()  # committed item -> seconds

    def session(self, session: Any) -> None:
        """Note an effective session (Inworld's `session.created` / `session.updated`): turns
        are manual when it has `audio.input.turn_detection: null`."""
        audio = session.get("audio") if isinstance(session, dict) else None
        inp = audio.get("input") if isinstance(audio, dict) else None
        if isinstance(inp, dict) and "turn_detection" in inp:
            self.manual_turns = inp["turn_detection"] is None

    def client_event(self, kind: str) -> None:
        """Note a (GA) client event on its way upstream."""
        if kind == "input_audio_buffer.commit":
            self._pending.append(self.audio_seconds())
        elif kind == "input_audio_buffer.clear":
            self._boundary = self.audio_seconds()

    def server_event(self, kind: str, event: dict[str, Any]) -> bool:
        """Note a `SERVER_EVENTS` event from the upstream (never changes it); True when the
        client must not see it (a voice activity event while turns are manual)."""
        if kind == "input_audio_buffer.committed":
            self._committed(event.get("item_id"))
        elif kind in _VAD_EVENTS:
            item_id = event.get("item_id")
            started = kind == "input_audio_buffer.speech_started"
            ms = event.get("audio_start_ms" if started else "audio_end_ms")
            if isinstance(item_id, str) and isinstance(ms, int) and not isinstance(ms, bool):
                span = self._speech.get(item_id) or [None, None]
                span[0 if started else 1] = ms
                _remember(self._speech, item_id, span)
            return self.manual_turns and self.drop_vad_events
        elif kind == "error" and self._pending:
            error = event.get("error")
            if isinstance(error, dict) and error.get("code") == "input_audio_buffer_commit_empty":
                self._pending.popleft()
        return False

    def fill_usage(self, event: dict[str, Any]) -> bool:
        """Give a `...input_audio_transcription.completed` event its `usage` in place; True if
        the event changed."""
        changed = _check_usage(event.get("usage"))
        if changed is not None:
            return changed
        item_id = event.get("item_id")
        seconds = self._seconds.get(item_id) if isinstance(item_id, str) else None
        if seconds is None:
            seconds = self._speech_seconds(item_id) or 0.0
        event["usage"] = {"type": "duration", "seconds": round(seconds, 3)}
        return True

    def _committed(self, item_id: Any) -> None:
        if self._pending:  # the answer to the client's own commit
            mark = self._pending.popleft()
            seconds = mark - self._boundary
        else:  # the server's voice activity detection committed the turn
            mark = self.audio_seconds()
            spoken = self._speech_seconds(item_id)
            seconds = spoken if spoken is not None else mark - self._boundary
        self._boundary = max(self._boundary, mark)
        if isinstance(item_id, str):
            _remember(self._seconds, item_id, max(seconds, 0.0))

    def _speech_seconds(self, item_id: Any) -> float | None:
        span = self._speech.get(item_id) if isinstance(item_id, str) else None
        if span is None or span[0] is None or span[1] is None:
            return None
        return max(span[1] - span[0], 0) / 1000

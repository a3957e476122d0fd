"""proxy.core.input_audio and its use by the translator: voice activity events with manual
turns, and `usage` on input transcriptions, without sockets."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from proxy.core.commands import FORWARD
from proxy.core.input_audio import InputAudio
from proxy.core.translate import Phase, Translator
from tests.support.core import CREATED, UPDATED, config, decoded, dumps

RULES = config().rules
COMPLETED = "conversation.item.input_audio_transcription.completed"


class Counter:
    """A stand-in for the relay's running input-audio total (seconds)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.seconds


def session_event(kind: str, turn_detection: Any) -> dict[str, Any]:
    audio = {"input": {"turn_detection": turn_detection}, "output": {"voice": "Ashley"}}
    return {"type": kind, "event_id": "s", "session": {"type": "realtime", "audio": audio}}


def speech(kind: str, item: str, ms: int) -> dict[str, Any]:
    field = "audio_start_ms" if kind.endswith("started") else "audio_end_ms"
    return {"type": f"input_audio_buffer.{kind}", "event_id": "v", "item_id": item, field: ms}


def completed(item: str, **extra: Any) -> dict[str, Any]:
    base = {"type": COMPLETED, "event_id": "t", "item_id": item, "content_index": 0}
    return {**base, "transcript": "hi", **extra}


def committed(item: str) -> dict[str, Any]:
    return {"type": "input_audio_buffer.committed", "event_id": "c", "item_id": item}


def opened(counter: Counter | None = None, **rules: Any) -> Translator:
    tr = Translator(dataclasses.replace(RULES, **rules), url_model="gpt-realtime")
    if counter is not None:
        tr.count_input_audio(counter)
    tr.start()
    tr.from_upstream(dumps(CREATED))
    tr.from_upstream(dumps(UPDATED))
    assert tr.phase is Phase.OPEN
    return tr


def to_client(tr: Translator, event: dict[str, Any]) -> list[dict[str, Any]]:
    """What the client receives for one upstream event."""
    return [e for _, e in decoded(tr.from_upstream(dumps(event)), dumps(event), "client")]


# -- voice activity events ---------------------------------------------------------------------


def test_vad_events_dropped_while_turn_detection_is_null() -> None:
    """After Inworld confirms turn_detection null, speech_started/stopped never reach the
    client (counted as vad_event_dropped); once turn detection is back, they pass again."""
    tr = opened()
    to_client(tr, session_event("session.updated", None))
    assert to_client(tr, speech("speech_started", "item_1", 100)) == []
    assert to_client(tr, speech("speech_stopped", "item_1", 400)) == []
    assert tr.rewrites["vad_event_dropped"] == 2
    to_client(tr, session_event("session.updated", {"type": "server_vad"}))
    [event] = to_client(tr, speech("speech_started", "item_2", 900))
    assert event["type"] == "input_audio_buffer.speech_started"


def test_vad_events_pass_with_turn_detection_or_when_configured() -> None:
    """Default turn detection (the key absent from the session) keeps them; so does
    drop_vad_events_without_turn_detection = false with turn_detection null."""
    tr = opened()
    assert tr.from_upstream(dumps(speech("speech_started", "item_1", 0))) is FORWARD
    kept = opened(drop_vad_events_without_turn_detection=False)
    to_client(kept, session_event("session.updated", None))
    assert kept.from_upstream(dumps(speech("speech_started", "item_1", 0))) is FORWARD
    assert "vad_event_dropped" not in kept.rewrites


def test_beta_client_vad_events_dropped_too() -> None:
    """A beta client with turn_detection null gets no speech events either."""
    tr = Translator(RULES, dialect="beta")
    tr.start()
    tr.from_upstream(dumps(CREATED))
    tr.from_upstream(dumps(UPDATED))
    to_client(tr, session_event("session.updated", None))
    assert to_client(tr, speech("speech_started", "item_1", 0)) == []


# -- transcription usage -----------------------------------------------------------------------


def test_client_commit_usage_is_the_audio_relayed_since_the_last_boundary() -> None:
    """Two manual commits: each transcript's usage is the audio relayed for its item, read
    from the relay's counter when the commit passed; a clear starts the next item afresh."""
    counter = Counter()
    tr = opened(counter)
    counter.seconds = 1.25
    tr.from_client(dumps({"type": "input_audio_buffer.commit"}))
    counter.seconds = 1.5  # appended after the commit: the next item's
    to_client(tr, committed("item_a"))
    [event] = to_client(tr, completed("item_a"))
    assert event["usage"] == {"type": "duration", "seconds": 1.25}
    assert tr.rewrites["transcription_usage"] == 1
    counter.seconds = 2.0
    tr.from_client(dumps({"type": "input_audio_buffer.clear"}))
    counter.seconds = 2.75
    tr.from_client(dumps({"type": "input_audio_buffer.commit"}))
    to_client(tr, committed("item_b"))
    [event] = to_client(tr, completed("item_b"))
    assert event["usage"] == {"type": "duration", "seconds": 0.75}


def test_server_vad_usage_is_the_speech_span() -> None:
    """A server commit: usage is audio_end_ms - audio_start_ms of that item's speech events."""
    counter = Counter()
    tr = opened(counter)
    to_client(tr, speech("speech_started", "item_v", 1200))
    to_client(tr, speech("speech_stopped", "item_v", 2100))
    counter.seconds = 3.0
    to_client(tr, committed("item_v"))
    [event] = to_client(tr, completed("item_v"))
    assert event["usage"] == {"type": "duration", "seconds": 0.9}


def test_refused_commit_is_forgotten() -> None:
    """A commit Inworld refuses (buffer empty) is not matched to the next server commit."""
    counter = Counter()
    tr = opened(counter)
    tr.from_client(dumps({"type": "input_audio_buffer.commit"}))
    error = {"code": "input_audio_buffer_commit_empty", "type": "invalid_request_error"}
    to_client(tr, {"type": "error", "event_id": "e", "error": error})
    to_client(tr, speech("speech_started", "item_v", 0))
    to_client(tr, speech("speech_stopped", "item_v", 500))
    counter.seconds = 0.8
    to_client(tr, committed("item_v"))
    [event] = to_client(tr, completed("item_v"))
    assert event["usage"] == {"type": "duration", "seconds": 0.5}


def test_usage_inworld_sends_is_kept() -> None:
    """Duration or token usage from Inworld goes on unchanged; token counts without a type
    get type tokens."""
    tr = opened()
    duration = completed("item_x", usage={"type": "duration", "seconds": 2})
    assert tr.from_upstream(dumps(duration)) is FORWARD
    tokens = {"type": "tokens", "input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
    assert tr.from_upstream(dumps(completed("item_x", usage=tokens))) is FORWARD
    untyped = {k: v for k, v in tokens.items() if k != "type"}
    [event] = to_client(tr, completed("item_x", usage=untyped))
    assert event["usage"] == tokens


@pytest.mark.parametrize("usage", [None, {"seconds": 1}, {"type": "tokens"}, "lots"])
def test_malformed_usage_is_replaced(usage: Any) -> None:
    """A usage of neither GA shape is replaced by the duration the proxy measured."""
    tr = opened(Counter())
    [event] = to_client(tr, completed("item_unknown", usage=usage))
    assert event["usage"] == {"type": "duration", "seconds": 0.0}


def test_counter_is_read_only_on_commits_and_clears() -> None:
    """The audio counter is never read for other events (audio appends never reach the core
    at all on the relay's hot path)."""
    counter = Counter()
    tr = opened(counter)
    tr.from_client(dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}))
    tr.from_client(dumps({"type": "response.create"}))
    to_client(tr, speech("speech_started", "item_1", 0))
    assert counter.reads == 0
    tr.from_client(dumps({"type": "input_audio_buffer.commit"}))
    tr.from_client(dumps({"type": "input_audio_buffer.clear"}))
    assert counter.reads == 2


def test_memory_is_bounded() -> None:
    """Thousands of items keep a bounded state."""
    audio = InputAudio(drop_vad_events=True)
    for n in range(5000):
        item = f"item_{n}"
        audio.server_event("input_audio_buffer.speech_started", speech("speech_started", item, n))
        audio.server_event("input_audio_buffer.committed", committed(item))
        audio.client_event("input_audio_buffer.commit")
    assert len(audio._speech) <= 64
    assert len(audio._seconds) <= 64
    assert len(audio._pending) <= 16

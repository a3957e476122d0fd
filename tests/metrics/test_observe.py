"""proxy.metrics.observe and proxy.metrics.labels: per-session observation, pure (fake clock)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.metrics.audio_size import b64_decoded_size
from proxy.metrics.labels import error_code_label, event_type_label, model_labeler
from proxy.metrics.observe import DOWN, UP, SessionObserver
from tests.support.core import config


@dataclass
class Recorder:
    """A TimingSink that keeps what it was given."""

    turns: list[tuple[str, float]] = field(default_factory=list)
    texts: list[tuple[str, float]] = field(default_factory=list)
    responses: list[tuple[str, str, float]] = field(default_factory=list)
    overheads: list[tuple[str, float]] = field(default_factory=list)
    reactions: list[tuple[str, str, float]] = field(default_factory=list)
    late: list[str] = field(default_factory=list)

    def observe_barge_in_reaction(self, model: str, until: str, seconds: float) -> None:
        self.reactions.append((model, until, seconds))

    def count_late_audio(self, model: str) -> None:
        self.late.append(model)

    def observe_turn_latency(self, model: str, seconds: float) -> None:
        self.turns.append((model, seconds))

    def observe_first_text_latency(self, model: str, seconds: float) -> None:
        self.texts.append((model, seconds))

    def observe_response_duration(self, model: str, status: str, seconds: float) -> None:
        self.responses.append((model, status, seconds))

    def observe_overhead(self, direction: str, seconds: float) -> None:
        self.overheads.append((direction, seconds))


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


RULES = config().rules
INWORLD = RULES.model_map["gpt-realtime"]


def make() -> tuple[SessionObserver, Recorder, Clock]:
    sink, clock = Recorder(), Clock()
    obs = SessionObserver(sink, clock=clock, model_label=model_labeler(RULES), model="gpt-realtime")
    return obs, sink, clock


def up(obs: SessionObserver, event: dict[str, Any], *, parsed: bool = True) -> None:
    obs.from_client(event["type"], json.dumps(event), event if parsed else None)


def down(obs: SessionObserver, event: dict[str, Any], *, parsed: bool = True) -> None:
    obs.from_upstream(event["type"], json.dumps(event), event if parsed else None)


def audio_delta(nbytes: int) -> dict[str, Any]:
    delta = base64.b64encode(b"\x01" * nbytes).decode()
    return {"type": "response.output_audio.delta", "response_id": "r", "delta": delta}


def done(status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {"type": "response.done", "response": {"status": status, **extra}}


def test_spoken_turn_gives_one_latency_from_speech_stopped() -> None:
    """speech_stopped -> response.created -> audio: one observation, end of speech to audio."""
    obs, sink, clock = make()
    down(obs, {"type": "input_audio_buffer.speech_stopped"})
    clock.now += 0.2
    down(obs, {"type": "response.created", "response": {}})
    clock.now += 0.5
    down(obs, audio_delta(4800), parsed=False)
    clock.now += 0.1
    down(obs, audio_delta(4800), parsed=False)
    down(obs, done())
    assert sink.turns == [(INWORLD, pytest.approx(0.7))]
    assert sink.responses == [(INWORLD, "completed", pytest.approx(0.6))]
    assert obs.turns == 1
    assert obs.responses == 1
    assert obs.audio_seconds[DOWN] == pytest.approx(0.2)


def test_latest_turn_mark_wins() -> None:
    """commit then response.create: latency counts from response.create (the latest)."""
    obs, sink, clock = make()
    up(obs, {"type": "input_audio_buffer.commit"})
    clock.now += 1.0
    up(obs, {"type": "response.create"})
    clock.now += 0.1
    down(obs, {"type": "response.created", "response": {}})
    clock.now += 0.3
    down(obs, {"type": "response.output_text.delta", "delta": "hi"}, parsed=False)
    down(obs, audio_delta(10), parsed=False)
    assert sink.turns == [(INWORLD, pytest.approx(0.4))]
    assert sink.texts == [(INWORLD, pytest.approx(0.4))]


def test_unrequested_response_and_later_marks_give_no_latency() -> None:
    """A response nobody asked for is not a turn; a mark after response.created is the next's."""
    obs, sink, clock = make()
    down(obs, {"type": "response.created", "response": {}})
    up(obs, {"type": "response.create"})  # while one is active: belongs to the next response
    down(obs, audio_delta(10), parsed=False)
    down(obs, done())
    assert sink.turns == []
    clock.now += 2
    down(obs, {"type": "response.created", "response": {}})
    clock.now += 0.25
    down(obs, audio_delta(10), parsed=False)
    assert sink.turns == [(INWORLD, pytest.approx(2.25))]


def test_barge_in_by_speech_and_by_cancel() -> None:
    """Cancelled responses count as barge-ins by trigger; other statuses do not."""
    obs, _, _ = make()
    down(obs, {"type": "response.created", "response": {}})
    down(obs, done("cancelled", status_details={"type": "cancelled", "reason": "turn_detected"}))
    down(obs, {"type": "response.created", "response": {}})
    up(obs, {"type": "response.cancel"})
    down(obs, done("cancelled"))
    down(obs, {"type": "response.created", "response": {}})
    down(obs, {"type": "input_audio_buffer.speech_started"})
    down(obs, done("cancelled"))
    down(obs, {"type": "response.created", "response": {}})
    down(obs, done("failed"))
    assert obs.barge_ins == {(INWORLD, "turn_detected"): 2, (INWORLD, "client_cancel"): 1}


def test_tokens_by_kind_with_remainders_and_cache() -> None:
    """Usage details become kinds; what details leave out is *_other; cached is separate."""
    obs, _, _ = make()
    usage = {
        "total_tokens": 100,
        "input_tokens": 60,
        "output_tokens": 40,
        "input_token_details": {"text_tokens": 10, "audio_tokens": 45, "cached_tokens": 8},
        "output_token_details": {"text_tokens": 15, "audio_tokens": 25},
    }
    down(obs, done(usage=usage))
    down(obs, done(usage={"input_tokens": 3, "output_tokens": 2}))
    assert obs.tokens == {
        (INWORLD, "input_text"): 10,
        (INWORLD, "input_audio"): 45,
        (INWORLD, "input_other"): 5 + 3,
        (INWORLD, "input_cached"): 8,
        (INWORLD, "output_text"): 15,
        (INWORLD, "output_audio"): 25,
        (INWORLD, "output_other"): 2,
    }


def test_messages_bytes_and_bounded_types() -> None:
    """Counts and UTF-8 sizes per direction; unknown or missing types are 'other'."""
    obs, _, _ = make()
    append = {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0" * 4800).decode()}
    up(obs, append, parsed=False)
    obs.from_client("x-session-" + "a" * 40, '{"type":"x"}', None)
    obs.from_client(None, "not json", None)
    down(obs, {"type": "error", "error": {"code": "é"}})
    assert obs.messages[UP] == {"input_audio_buffer.append": 1, "other": 2}
    assert obs.bytes[UP]["other"] == len('{"type":"x"}') + len("not json")
    text = json.dumps({"type": "error", "error": {"code": "é"}}, ensure_ascii=False)
    obs.from_upstream("error", text, None)
    assert obs.bytes[DOWN]["error"] == len(
        json.dumps({"type": "error", "error": {"code": "é"}})
    ) + (len(text.encode()))
    assert obs.audio_seconds[UP] == pytest.approx(0.1)
    assert obs.errors == {("upstream", "other"): 1}


def test_hot_path_tallies_are_exact_for_varying_chunk_sizes() -> None:
    """Hot-path appends and deltas: counts, bytes and audio exact whatever the chunk sizes."""
    obs, _, _ = make()
    sizes = [1920, 1920, 960, 1920, 1, 5, 1920]
    appends = [
        json.dumps(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0" * n).decode()},
            separators=(",", ":"),
        ).encode()
        for n in sizes
    ]
    deltas = [json.dumps(audio_delta(n)).encode() for n in reversed(sizes)]
    for i, (append, delta) in enumerate(zip(appends, deltas, strict=True)):
        obs.append_from_client(append)
        obs.delta_from_upstream(delta)
        if i == 1:
            obs.settle()  # a scrape in the middle of a run of equal lengths
    obs.settle()
    assert obs.messages[UP] == {"input_audio_buffer.append": len(sizes)}
    assert obs.messages[DOWN] == {"response.output_audio.delta": len(sizes)}
    assert obs.bytes[UP]["input_audio_buffer.append"] == sum(map(len, appends))
    assert obs.bytes[DOWN]["response.output_audio.delta"] == sum(map(len, deltas))
    assert obs.audio_seconds[UP] == pytest.approx(sum(sizes) / 48_000)
    assert obs.audio_seconds[DOWN] == pytest.approx(sum(sizes) / 48_000)


def test_sized_counts_only_a_length_already_measured() -> None:
    """The relay's hot lane: a known payload length is counted with its measured audio size;
    an unknown one is refused (then the payload is measured) and counts nothing."""
    obs, _, _ = make()
    append = b'{"type":"input_audio_buffer.append","audio":"%s"}' % base64.b64encode(b"\0" * 960)
    assert not obs.append_sized(len(append))
    obs.append_from_client(append)
    assert obs.append_sized(len(append))
    assert obs.append_sized(len(append))
    assert not obs.append_sized(len(append) + 4)
    obs.settle()
    assert obs.messages[UP]["input_audio_buffer.append"] == 3
    assert obs.bytes[UP]["input_audio_buffer.append"] == 3 * len(append)
    assert obs.audio_seconds[UP] == pytest.approx(3 * 960 / 48_000)


def test_input_audio_seconds_counts_every_path_without_folding() -> None:
    """The running input-audio total (read by the core on commits) includes hot-path runs,
    hot-lane appends and parsed appends, and reading it changes no tally."""
    obs, _, _ = make()
    append = b'{"type":"input_audio_buffer.append","audio":"%s"}' % base64.b64encode(b"\0" * 960)
    obs.append_from_client(append)
    assert obs.append_sized(len(append))
    up(obs, {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0" * 4800).decode()})
    expected = (2 * 960 + 4800) / 48_000
    assert obs.input_audio_seconds() == pytest.approx(expected)
    assert obs.input_audio_seconds() == pytest.approx(expected)  # nothing was folded
    assert obs.messages[UP] == {"input_audio_buffer.append": 1}  # the parsed one only
    obs.settle()
    assert obs.input_audio_seconds() == pytest.approx(expected)
    assert obs.audio_seconds[UP] == pytest.approx(expected)


def test_hot_path_reuses_the_size_of_a_frame_as_long() -> None:
    """The documented approximation: a frame as long as the previous one, laid out
    differently (another key, other padding), is counted with the previous one's audio size."""
    obs, _, _ = make()
    first = b'{"type":"input_audio_buffer.append","audio":"AAAAAAAAAAAA"}'  # 9 bytes
    second = b'{"type":"input_audio_buffer.append","audio":"AAAA","x":"1"}'  # 3 bytes
    one, two = (
        b'{"type":"input_audio_buffer.append","audio":"%s"}' % b64 for b64 in (b"AA==", b"AAA=")
    )
    assert len(first) == len(second)
    assert len(one) == len(two)
    for frame in (first, second, second + b" ", one, two):  # `second + b" "`: a new length
        obs.append_from_client(frame)
    obs.settle()
    assert obs.audio_seconds[UP] == pytest.approx((9 + 9 + 3 + 1 + 1) / 48_000)


def test_audio_rate_follows_session_format() -> None:
    """G.711 sessions count 8000 bytes per second; PCM uses 2 * rate."""
    obs, _, _ = make()
    fmt = {"type": "audio/pcmu"}
    down(obs, {"type": "session.updated", "session": {"audio": {"output": {"format": fmt}}}})
    down(obs, audio_delta(8000), parsed=False)
    assert obs.audio_seconds[DOWN] == pytest.approx(1.0)


def test_model_label_follows_session_and_is_bounded() -> None:
    """The model label is the Inworld id the session maps to, or 'other' when unconfigured."""
    obs, sink, _ = make()
    down(obs, {"type": "session.updated", "session": {"model": "someone/unlisted-model"}})
    down(obs, {"type": "response.created", "response": {}})
    down(obs, done())
    assert sink.responses[-1][0] == "other"
    label = model_labeler(RULES)
    assert label(None) == RULES.model_fallback
    assert label("gpt-realtime-mini") == RULES.model_map["gpt-realtime-mini"]


@given(st.binary(max_size=200), st.sampled_from(["", " ", "\n "]))
def test_b64_size_matches_decoding(data: bytes, space: str) -> None:
    """The size computed from the base64 text equals the decoded length, whatever spacing."""
    b64 = base64.b64encode(data).decode()
    text = (
        f'{{"type":"input_audio_buffer.append","event_id":"audio","audio"{space}:{space}"{b64}"}}'
    )
    assert b64_decoded_size(text, "audio") == len(data)


def test_b64_size_missing_or_malformed() -> None:
    """No key, a non-string value or an unterminated string count as 0."""
    assert b64_decoded_size('{"type":"x"}', "audio") == 0
    assert b64_decoded_size('{"audio":12}', "audio") == 0
    assert b64_decoded_size('{"audio":"AAAA', "audio") == 0


def test_labels_are_bounded() -> None:
    """Unknown event types and error codes map to 'other'; a missing code is 'none'."""
    assert event_type_label("response.output_audio.delta") == "response.output_audio.delta"
    assert event_type_label("response.audio.delta") == "response.audio.delta"  # legacy, known
    assert event_type_label("sess_123") == "other"
    assert event_type_label(None) == "other"
    assert error_code_label("invalid_value") == "invalid_value"
    assert error_code_label("anything else") == "other"
    assert error_code_label(None) == "none"
    assert error_code_label(42) == "other"

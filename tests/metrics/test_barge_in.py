"""Barge-in reaction time: scripted event sequences through `SessionObserver` (fake clock),
and where the observations land (`Metrics`, `VariantSink` with its role)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from proxy.metrics.collectors import Metrics
from proxy.metrics.labels import model_labeler
from proxy.metrics.observe import NULL_SINK, SessionObserver
from proxy.metrics.routes import RouteLabels, RouteMetrics, VariantSink
from tests.support.core import config

RULES = config().rules
MODEL = RULES.model_map["gpt-realtime"]


@dataclass
class Sink:
    """A TimingSink keeping barge-in observations and turn latencies."""

    reactions: list[tuple[str, str, float]] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    turns: list[float] = field(default_factory=list)

    def observe_barge_in_reaction(self, model: str, until: str, seconds: float) -> None:
        self.reactions.append((model, until, seconds))

    def count_late_audio(self, model: str) -> None:
        self.late.append(model)

    def observe_turn_latency(self, model: str, seconds: float, transport: str = "") -> None:
        self.turns.append(seconds)

    def observe_first_text_latency(self, model: str, seconds: float) -> None:
        pass

    def observe_response_duration(self, model: str, status: str, seconds: float) -> None:
        pass

    def observe_overhead(self, direction: str, seconds: float) -> None:
        pass


class Script:
    """Feeds an observer events at times on a fake clock."""

    def __init__(self, sink: Any = None) -> None:
        self.sink = sink or Sink()
        self.now = 50.0
        self.obs = SessionObserver(
            self.sink,
            clock=lambda: self.now,
            model_label=model_labeler(RULES),
            model="gpt-realtime",
        )

    def at(self, t: float) -> Script:
        self.now = 50.0 + t
        return self

    def server(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, **fields}
        self.obs.from_upstream(kind, json.dumps(event), event)

    def client(self, kind: str) -> None:
        event = {"type": kind}
        self.obs.from_client(kind, json.dumps(event), event)

    def audio(self, *, hot: bool = True) -> None:
        """An audio delta, by the relay's hot lane or the sniffed (unparsed) path."""
        delta = base64.b64encode(b"\x00" * 480).decode()
        text = json.dumps({"type": "response.output_audio.delta", "delta": delta}).encode()
        if hot:
            self.obs.delta_from_upstream(text)
        else:
            self.obs.from_upstream("response.output_audio.delta", text, None)

    def done(self, status: str, reason: str | None = None) -> None:
        details = {"type": status, "reason": reason} if reason else None
        self.server("response.done", response={"status": status, "status_details": details})


def test_speech_started_to_last_audio_and_to_done() -> None:
    """Speech at 1.0 s; audio goes on until 1.25 s; done at 1.3 s: 0.25 s and 0.3 s."""
    s = Script()
    s.at(0).client("response.create")
    s.at(0.1).server("response.created", response={})
    for t in (0.4, 0.6, 0.8):
        s.at(t).audio()
    s.at(1.0).server("input_audio_buffer.speech_started")
    s.at(1.1).audio()
    s.at(1.25).audio(hot=False)
    s.at(1.3).done("cancelled", "turn_detected")
    assert s.sink.reactions == [
        (MODEL, "last_audio", pytest.approx(0.25)),
        (MODEL, "done", pytest.approx(0.3)),
    ]
    assert s.sink.late == []
    assert s.sink.turns == [pytest.approx(0.4)]
    assert s.obs.barge_ins == {(MODEL, "turn_detected"): 1}


def test_no_audio_after_the_mark_reacts_in_zero() -> None:
    """The reply had stopped sending audio before the user spoke: last_audio is 0."""
    s = Script()
    s.at(0).server("response.created", response={})
    s.at(0.2).audio()
    s.at(0.5).server("input_audio_buffer.speech_started")
    s.at(0.52).done("cancelled", "turn_detected")
    assert s.sink.reactions == [
        (MODEL, "last_audio", 0.0),
        (MODEL, "done", pytest.approx(0.02)),
    ]


def test_client_cancel_is_the_mark_and_the_first_mark_wins() -> None:
    """response.cancel at 2.0 s, speech_started later changes nothing; parsed deltas count."""
    s = Script()
    s.at(0).server("response.created", response={})
    s.at(0.1).audio()
    s.at(2.0).client("response.cancel")
    s.at(2.1).server("input_audio_buffer.speech_started")
    s.at(2.15).server("response.output_audio.delta", delta=base64.b64encode(b"\x00" * 48).decode())
    s.at(2.2).done("cancelled", "client_cancelled")
    assert s.sink.reactions == [
        (MODEL, "last_audio", pytest.approx(0.15)),
        (MODEL, "done", pytest.approx(0.2)),
    ]
    assert s.obs.barge_ins == {(MODEL, "client_cancel"): 1}


@pytest.mark.parametrize(
    ("last_audio", "status", "late", "observed"),
    [
        (0.7, "cancelled", 1, 2),  # 0.7 s of audio after the user spoke: late
        (0.45, "cancelled", 0, 2),  # within 0.5 s: in time
        (1.5, "completed", 1, 0),  # the reply ignored the user: late, and no reaction
        (0.3, "completed", 0, 0),
    ],
)
def test_late_audio_is_counted_whatever_the_status(
    last_audio: float, status: str, late: int, observed: int
) -> None:
    s = Script()
    s.at(0).server("response.created", response={})
    s.at(0.1).audio()
    s.at(1.0).server("input_audio_buffer.speech_started")
    s.at(1.0 + last_audio).audio()
    s.at(1.0 + last_audio + 0.01).done(status)
    assert len(s.sink.late) == late
    assert len(s.sink.reactions) == observed


def test_uninterrupted_responses_give_nothing() -> None:
    """No speech during the reply (speech before response.created included): no reaction."""
    s = Script()
    s.at(0).server("input_audio_buffer.speech_started")
    s.at(0.5).server("input_audio_buffer.speech_stopped")
    s.at(0.6).server("response.created", response={})
    s.at(0.9).audio()
    s.at(2.0).audio()
    s.at(2.1).done("completed")
    s.at(3.0).done("cancelled")  # a done without a response in flight
    assert s.sink.reactions == []
    assert s.sink.late == []
    assert s.sink.turns == [pytest.approx(0.4)]


def test_reaction_lands_per_model_and_per_variant_with_its_role() -> None:
    """Metrics gets the per-model histogram and late counter; VariantSink adds route labels
    with its role; a shadow's sink (NULL_SINK inside) stays out of the per-model families."""
    registry = CollectorRegistry()
    metrics, routes = Metrics(registry), RouteMetrics(registry)
    labels = RouteLabels("gpt-realtime", "inworld", "inworld")
    for sink in (
        VariantSink(metrics, routes, lambda: labels),
        VariantSink(NULL_SINK, routes, lambda: labels, "shadow"),
    ):
        s = Script(sink)
        s.at(0).server("response.created", response={})
        s.at(0.1).audio()
        s.at(1.0).server("input_audio_buffer.speech_started")
        s.at(1.8).audio()
        s.at(1.9).done("cancelled", "turn_detected")

    def value(name: str, **labels: str) -> float:
        return sum(
            sample.value
            for family in registry.collect()
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    per_model = "inworld_proxy_barge_in_reaction_seconds_count"
    assert value(per_model, model=MODEL, until="last_audio") == 1
    assert value("inworld_proxy_barge_in_reaction_seconds_sum", until="done") == pytest.approx(0.9)
    assert value("inworld_proxy_barge_in_late_audio_total", model=MODEL) == 1
    route = "inworld_proxy_route_barge_in_reaction_seconds_count"
    for role in ("primary", "shadow"):
        assert value(route, role=role, until="last_audio", variant="inworld") == 1
        assert value("inworld_proxy_route_barge_in_late_audio_total", role=role) == 1

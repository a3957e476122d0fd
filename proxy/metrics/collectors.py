"""Prometheus metrics on an injected registry (never the global one).

Every name starts with `inworld_proxy_`; every label has a bounded set of values (no session
id, event types from `proxy.core.events`, models from the configured Inworld ids).

Two kinds of source:
- families owned here and updated when something happens once per session or per turn
  (sessions, durations, handshakes, turn latency, response duration, sampled overhead);
- per-frame counters (messages, bytes, audio seconds, tokens, barge-ins, errors, rewrites),
  which live as plain numbers on each session's `SessionObserver` (cheap on the hot path) and
  are summed at scrape time by a custom collector: live sessions plus the totals folded in
  from sessions that ended. Both happen on the event loop thread, so no lock is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from proxy import __version__
from proxy.metrics.calls import CallMetrics
from proxy.metrics.observe import DOWN, PROTOCOLS, TRANSPORTS, UP, WEBSOCKET, SessionObserver

__all__ = ["REACTION_BUCKETS", "Metrics", "close_code_class", "session_outcome"]

_PREFIX = "inworld_proxy"
_LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 10)
REACTION_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5)
_OVERHEAD_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2)
_CLOSE_CLASSES = {
    1000: "normal",
    1001: "going_away",
    1005: "no_status",
    1006: "abnormal",
    1008: "policy",
    1011: "internal_error",
    1012: "service_restart",
    1013: "try_again_later",
}


def close_code_class(code: int | None) -> str:
    """A bounded label for a WebSocket close code (RFC 6455 §7.4)."""
    if code is None:
        return "none"
    if code in _CLOSE_CLASSES:
        return _CLOSE_CLASSES[code]
    if 1000 <= code < 3000:
        return "protocol"
    if 3000 <= code < 4000:
        return "registered"
    if 4000 <= code < 5000:
        return "application"
    return "invalid"


def session_outcome(
    ended_by: str, *, handshake_failed: bool = False, upstream_code: int | None = None
) -> str:
    """How a session ended, as a bounded label."""
    if handshake_failed:
        return "handshake_failed"
    if ended_by == "upstream":
        return "upstream_closed" if upstream_code in (1000, 1001, 1005) else "upstream_error"
    if ended_by in ("client", "proxy"):
        return f"{ended_by}_closed"
    return "other"


_Key = tuple[str, ...]


@dataclass(slots=True)
class _Totals:
    """Counter values summed over sessions: label tuple -> value."""

    messages: dict[_Key, float] = field(default_factory=dict)
    message_bytes: dict[_Key, float] = field(default_factory=dict)
    audio_seconds: dict[_Key, float] = field(default_factory=dict)
    tokens: dict[_Key, float] = field(default_factory=dict)
    barge_ins: dict[_Key, float] = field(default_factory=dict)
    errors: dict[_Key, float] = field(default_factory=dict)
    rewrites: dict[_Key, float] = field(default_factory=dict)

    def add(self, obs: SessionObserver) -> None:
        obs.settle()
        for direction, counts in obs.messages.items():
            for kind, n in counts.items():
                _inc(self.messages, (direction, kind), n)
        for direction, sizes in obs.bytes.items():
            for kind, n in sizes.items():
                _inc(self.message_bytes, (direction, kind), n)
        for direction, seconds in obs.audio_seconds.items():
            _inc(self.audio_seconds, (direction, obs.transport), seconds)
        for key, n in obs.tokens.items():
            _inc(self.tokens, key, n)
        for key, n in obs.barge_ins.items():
            _inc(self.barge_ins, (*key, obs.transport), n)
        for key, n in obs.errors.items():
            _inc(self.errors, key, n)
        for code, n in obs.refusals.items():
            _inc(self.errors, ("client", code), n)
        for kind, n in obs.rewrites.items():
            _inc(self.rewrites, (kind,), n)

    def copy(self) -> _Totals:
        return _Totals(*(dict(getattr(self, name)) for name in self.__slots__))


def _inc(table: dict[_Key, float], key: _Key, n: float) -> None:
    table[key] = table.get(key, 0) + n


_DIR_TYPE = ("direction", "event_type")
# (name, help, label names); the name is also the `_Totals` attribute
_COUNTERS = (
    ("messages", "WebSocket messages received, by direction and event type.", _DIR_TYPE),
    ("message_bytes", "Bytes of messages received, by direction and event type.", _DIR_TYPE),
    (
        "audio_seconds",
        "Seconds of audio relayed, from base64 sizes, by direction and client transport.",
        ("direction", "transport"),
    ),
    ("tokens", "Tokens in response.done usage, by Inworld model and kind.", ("model", "kind")),
    ("barge_ins", "Responses cancelled by the user.", ("model", "trigger", "transport")),
    ("errors", "Errors, by source and error code.", ("source", "code")),
    ("rewrites", "Translations the proxy applied, by kind.", ("kind",)),
)


class _SessionCounters(Collector):
    """Custom collector: per-frame counters of live sessions plus those of ended ones."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(f"{_PREFIX}_{n}", h, labels=ls) for n, h, ls in _COUNTERS]

    def collect(self) -> Iterator[Metric]:
        totals = self._metrics.counter_totals()
        for name, help_text, labels in _COUNTERS:
            family = CounterMetricFamily(f"{_PREFIX}_{name}", help_text, labels=labels)
            for key, value in sorted(getattr(totals, name).items()):
                family.add_metric(list(key), value)
            yield family


class Metrics:
    """The proxy's metric families, registered on `registry`; also the observers' timing sink."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._live: set[SessionObserver] = set()
        self._ended = _Totals()
        info = Gauge(f"{_PREFIX}_build_info", "Proxy version.", ["version"], registry=registry)
        info.labels(__version__).set(1)
        self.sessions_active = Gauge(
            f"{_PREFIX}_sessions_active",
            "Client sessions currently open, by transport (websocket, webrtc) and protocol "
            "(realtime, live).",
            ["transport", "protocol"],
            registry=registry,
        )
        self.sessions = Counter(
            f"{_PREFIX}_sessions",
            "Client sessions ended, by outcome, client close code class and client dialect.",
            ["outcome", "close_code_class", "dialect", "transport", "protocol"],
            registry=registry,
        )
        self.sessions_refused = Counter(
            f"{_PREFIX}_sessions_refused",
            "Client sessions refused before relaying, by reason (max_sessions, draining, "
            "key_sessions, token_sessions).",
            ["reason"],
            registry=registry,
        )
        self.connections_refused = Counter(
            f"{_PREFIX}_connections_refused",
            "Connections closed or requests refused before authentication, by reason "
            "(proxy.web.admission.REFUSAL_REASONS).",
            ["reason"],
            registry=registry,
        )
        self.session_duration = Histogram(
            f"{_PREFIX}_session_duration_seconds",
            "Client session duration.",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=registry,
        )
        self.upstream_connect = Histogram(
            f"{_PREFIX}_upstream_connect_seconds",
            "Time to open the upstream WebSocket (TCP + TLS + handshake), successful dials.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.upstream_handshake_failures = Counter(
            f"{_PREFIX}_upstream_handshake_failures",
            "Upstream handshakes that failed, by HTTP status (or 'none').",
            ["status"],
            registry=registry,
        )
        self.turn_latency = Histogram(
            f"{_PREFIX}_turn_latency_seconds",
            "End of the user's turn (speech_stopped, commit or response.create) to the "
            "response's first output audio delta.",
            ["model", "transport"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.first_text_latency = Histogram(
            f"{_PREFIX}_first_text_latency_seconds",
            "End of the user's turn to the response's first text or transcript delta.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.response_duration = Histogram(
            f"{_PREFIX}_response_duration_seconds",
            "response.created to response.done, by final status.",
            ["model", "status"],
            buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120),
            registry=registry,
        )
        self.barge_in_reaction = Histogram(
            f"{_PREFIX}_barge_in_reaction_seconds",
            "Interrupted (cancelled) responses: the user's speech_started or the client's "
            "response.cancel to the response's last audio delta (until=last_audio) and to its "
            "response.done (until=done).",
            ["model", "until"],
            buckets=REACTION_BUCKETS,
            registry=registry,
        )
        self.late_audio = Counter(
            f"{_PREFIX}_barge_in_late_audio",
            "Interrupted responses that kept sending audio more than 0.5 s after the user "
            "started speaking (or the client cancelled).",
            ["model"],
            registry=registry,
        )
        self.message_overhead = Histogram(
            f"{_PREFIX}_message_overhead_seconds",
            "Time a message spends in the proxy, receive to relayed (1 in 64 messages sampled).",
            ["direction"],
            buckets=_OVERHEAD_BUCKETS,
            registry=registry,
        )
        # `labels()` takes a lock and builds a key on every call; the sampled overhead is
        # observed often enough (1 message in 64) for that to show in a profile.
        self._overhead = {d: self.message_overhead.labels(d) for d in (UP, DOWN)}
        registry.register(_SessionCounters(self))
        self.calls = CallMetrics(registry)  # WebRTC calls (proxy.metrics.calls)
        for transport in TRANSPORTS:
            for protocol in PROTOCOLS:
                self.sessions_active.labels(transport, protocol)

    def connections_refused_by(self, reason: str) -> None:
        """Count one connection or request refused before authentication."""
        self.connections_refused.labels(reason).inc()

    # -- sessions -----------------------------------------------------------------------------

    def session_started(self, observer: SessionObserver) -> None:
        """A client session was accepted: count it as active and start reading its counters."""
        self.sessions_active.labels(observer.transport, observer.protocol).inc()
        self._live.add(observer)

    def session_ended(
        self,
        observer: SessionObserver,
        *,
        outcome: str,
        client_code: int | None,
        duration: float,
        dialect: str = "ga",
    ) -> None:
        """A session ended: fold its counters into the totals and count it."""
        if observer in self._live:
            self._live.discard(observer)
            self.sessions_active.labels(observer.transport, observer.protocol).dec()
        self._ended.add(observer)
        labels = (
            outcome,
            close_code_class(client_code),
            dialect,
            observer.transport,
            observer.protocol,
        )
        self.sessions.labels(*labels).inc()
        self.session_duration.observe(duration)

    def counter_totals(self) -> _Totals:
        """Per-frame counters summed over ended and live sessions (what a scrape shows)."""
        totals = self._ended.copy()
        for observer in self._live:
            totals.add(observer)
        return totals

    # -- TimingSink ---------------------------------------------------------------------------

    def observe_turn_latency(self, model: str, seconds: float, transport: str = WEBSOCKET) -> None:
        self.turn_latency.labels(model, transport).observe(seconds)

    def observe_first_text_latency(self, model: str, seconds: float) -> None:
        self.first_text_latency.labels(model).observe(seconds)

    def observe_response_duration(self, model: str, status: str, seconds: float) -> None:
        self.response_duration.labels(model, status).observe(seconds)

    def observe_barge_in_reaction(self, model: str, until: str, seconds: float) -> None:
        self.barge_in_reaction.labels(model, until).observe(seconds)

    def count_late_audio(self, model: str) -> None:
        self.late_audio.labels(model).inc()

    def observe_overhead(self, direction: str, seconds: float) -> None:
        child = self._overhead.get(direction)
        if child is None:
            child = self.message_overhead.labels(direction)
        child.observe(seconds)

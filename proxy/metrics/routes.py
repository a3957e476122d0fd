"""Metrics by route, variant and provider, for comparing A/B variants, providers and shadows.

Registered on the injected registry next to `proxy.metrics.collectors.Metrics`. Label values
are bounded by the configuration: `route` is a configured route name (or `none` for sessions
no route covers), `variant` a configured variant or shadow name (`default` when unrouted),
`provider` is `inworld` or `openai`, and `role` is `primary` (the upstream that serves the
client) or `shadow` (a mirrored session nobody hears, `proxy.session.shadow`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from proxy.metrics.collectors import REACTION_BUCKETS
from proxy.metrics.observe import SessionObserver, TimingSink

__all__ = [
    "PRIMARY",
    "SHADOW",
    "RouteLabels",
    "RouteMetrics",
    "VariantSink",
    "account_variant",
    "status_class",
]

PRIMARY, SHADOW = "primary", "shadow"
_PREFIX = "inworld_proxy"
_LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 10)
_LABELS = ("route", "variant", "provider")
_ROLE = (*_LABELS, "role")


@dataclass(frozen=True, slots=True)
class RouteLabels:
    """The (route, variant, provider) label values of one session or request."""

    route: str = "none"
    variant: str = "default"
    provider: str = "inworld"

    def values(self) -> tuple[str, str, str]:
        """The label values in `_LABELS` order."""
        return (self.route, self.variant, self.provider)


def status_class(status: int) -> str:
    """`2xx`, `4xx`, `5xx`, ... for an HTTP status."""
    return f"{status // 100}xx"


class RouteMetrics:
    """The route-level families (docs/observability.md)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, text: str, labels: tuple[str, ...]) -> Counter:
            return Counter(f"{_PREFIX}_{name}", text, labels, registry=registry)

        def histogram(
            name: str, text: str, labels: tuple[str, ...], buckets: Sequence[float]
        ) -> Histogram:
            return Histogram(f"{_PREFIX}_{name}", text, labels, buckets=buckets, registry=registry)

        self.sessions = counter(
            "route_sessions",
            "Realtime sessions ended, by route, the variant and provider that served them, "
            "and outcome.",
            (*_LABELS, "outcome"),
        )
        self.turn_latency = histogram(
            "route_turn_latency_seconds",
            "Turn latency (as inworld_proxy_turn_latency_seconds) by route, variant, provider "
            "and role.",
            _ROLE,
            _LATENCY_BUCKETS,
        )
        self.first_text_latency = histogram(
            "route_first_text_latency_seconds",
            "First text delta latency (as inworld_proxy_first_text_latency_seconds) by route, "
            "variant, provider and role.",
            _ROLE,
            _LATENCY_BUCKETS,
        )
        self.barge_in_reaction = histogram(
            "route_barge_in_reaction_seconds",
            "Barge-in reaction (as inworld_proxy_barge_in_reaction_seconds) by route, variant, "
            "provider, role and until.",
            (*_ROLE, "until"),
            REACTION_BUCKETS,
        )
        self.late_audio = counter(
            "route_barge_in_late_audio",
            "Interrupted responses with audio more than 0.5 s after the user spoke, by route, "
            "variant, provider and role.",
            _ROLE,
        )
        self.errors = counter(
            "route_errors",
            "Errors in realtime sessions (as inworld_proxy_errors_total) by route, variant, "
            "provider, role and source.",
            (*_ROLE, "source"),
        )
        self.tokens = counter(
            "route_tokens",
            "Tokens in response.done usage by route, variant, provider, role and kind "
            "(counted when the session ends).",
            (*_ROLE, "kind"),
        )
        self.audio_seconds = counter(
            "route_audio_seconds",
            "Seconds of audio by route, variant, provider, role and direction (counted when "
            "the session ends).",
            (*_ROLE, "direction"),
        )
        self.shadow_sessions = counter(
            "shadow_sessions",
            "Shadow sessions ended, by route, the shadow's name and provider, and outcome "
            "(completed, behind, refused, failed).",
            (*_LABELS, "outcome"),
        )
        self.fallbacks = counter(
            "route_fallbacks",
            "Upstream choices that failed at connect time and were passed over for the next "
            "one, by the failed variant and reason (refused, setup_error).",
            (*_LABELS, "reason"),
        )
        self.rest_requests = counter(
            "rest_requests",
            "REST passthrough requests, by endpoint, route, variant, provider and status class.",
            ("endpoint", *_LABELS, "status_class"),
        )
        self.config_reloads = counter(
            "config_reloads", "Configuration reloads (SIGHUP), by result (ok, failed).", ("result",)
        )


class VariantSink:
    """A `TimingSink` that passes everything on to `inner` and also records turn latency,
    first text and barge-in reaction by variant and `role`.

    `labels` is read at each observation, so it follows a connect-time fallback. A shadow's
    sink has `proxy.metrics.observe.NULL_SINK` as `inner`: its timings stay out of the
    per-model families, which describe what clients get.
    """

    def __init__(
        self,
        inner: TimingSink,
        metrics: RouteMetrics,
        labels: Callable[[], RouteLabels],
        role: str = PRIMARY,
        transport: str = "websocket",
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._labels = labels
        self._role = role
        self._transport = transport  # the client's: `inner` labels turn latency with it

    def _values(self) -> tuple[str, str, str, str]:
        return (*self._labels().values(), self._role)

    def observe_turn_latency(
        self, model: str, seconds: float, transport: str = "websocket"
    ) -> None:
        self._inner.observe_turn_latency(model, seconds, self._transport)
        self._metrics.turn_latency.labels(*self._values()).observe(seconds)

    def observe_first_text_latency(self, model: str, seconds: float) -> None:
        self._inner.observe_first_text_latency(model, seconds)
        self._metrics.first_text_latency.labels(*self._values()).observe(seconds)

    def observe_response_duration(self, model: str, status: str, seconds: float) -> None:
        self._inner.observe_response_duration(model, status, seconds)

    def observe_overhead(self, direction: str, seconds: float) -> None:
        self._inner.observe_overhead(direction, seconds)

    def observe_barge_in_reaction(self, model: str, until: str, seconds: float) -> None:
        self._inner.observe_barge_in_reaction(model, until, seconds)
        self._metrics.barge_in_reaction.labels(*self._values(), until).observe(seconds)

    def count_late_audio(self, model: str) -> None:
        self._inner.count_late_audio(model)
        self._metrics.late_audio.labels(*self._values()).inc()


def account_variant(
    metrics: RouteMetrics, labels: RouteLabels, role: str, observer: SessionObserver
) -> None:
    """Count an ended session's errors (by source), tokens and audio under its variant."""
    values = (*labels.values(), role)
    by_source: dict[str, int] = {}
    for (source, _), n in observer.errors.items():
        by_source[source] = by_source.get(source, 0) + n
    refused = sum(observer.refusals.values())
    if refused:
        by_source["client"] = by_source.get("client", 0) + refused
    for source, n in by_source.items():
        metrics.errors.labels(*values, source).inc(n)
    by_kind: dict[str, int] = {}
    for (_, kind), n in observer.tokens.items():
        by_kind[kind] = by_kind.get(kind, 0) + n
    for kind, n in by_kind.items():
        metrics.tokens.labels(*values, kind).inc(n)
    observer.settle()
    for direction, seconds in observer.audio_seconds.items():
        if seconds:
            metrics.audio_seconds.labels(*values, direction).inc(seconds)

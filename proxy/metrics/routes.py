"""Metrics by route, variant and provider, for comparing A/B variants and providers.

Registered on the injected registry next to `proxy.metrics.collectors.Metrics`. Label values
are bounded by the configuration: `route` is a configured route name (or `none` for sessions
no route covers), `variant` a configured variant name (`default` when unrouted), `provider` is
`inworld` or `openai`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from proxy.metrics.observe import TimingSink

__all__ = ["RouteLabels", "RouteMetrics", "VariantSink", "status_class"]

_PREFIX = "inworld_proxy"
_LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 10)
_LABELS = ("route", "variant", "provider")


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
        self.sessions = Counter(
            f"{_PREFIX}_route_sessions",
            "Realtime sessions ended, by route, the variant and provider that served them, "
            "and outcome.",
            [*_LABELS, "outcome"],
            registry=registry,
        )
        self.turn_latency = Histogram(
            f"{_PREFIX}_route_turn_latency_seconds",
            "Turn latency (as inworld_proxy_turn_latency_seconds) by route, variant, provider.",
            _LABELS,
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            f"{_PREFIX}_route_errors",
            "Errors in realtime sessions (as inworld_proxy_errors_total) by route, variant, "
            "provider and source.",
            [*_LABELS, "source"],
            registry=registry,
        )
        self.fallbacks = Counter(
            f"{_PREFIX}_route_fallbacks",
            "Upstream choices that failed at connect time and were passed over for the next "
            "one, by the failed variant and reason (refused, setup_error).",
            [*_LABELS, "reason"],
            registry=registry,
        )
        self.rest_requests = Counter(
            f"{_PREFIX}_rest_requests",
            "REST passthrough requests, by endpoint, route, variant, provider and status class.",
            ["endpoint", *_LABELS, "status_class"],
            registry=registry,
        )
        self.config_reloads = Counter(
            f"{_PREFIX}_config_reloads",
            "Configuration reloads (SIGHUP), by result (ok, failed).",
            ["result"],
            registry=registry,
        )


class VariantSink:
    """A `TimingSink` that passes everything on and also records turn latency by variant.

    `labels` is read at each observation, so it follows a connect-time fallback.
    """

    def __init__(
        self, inner: TimingSink, metrics: RouteMetrics, labels: Callable[[], RouteLabels]
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._labels = labels

    def observe_turn_latency(self, model: str, seconds: float) -> None:
        self._inner.observe_turn_latency(model, seconds)
        self._metrics.turn_latency.labels(*self._labels().values()).observe(seconds)

    def observe_first_text_latency(self, model: str, seconds: float) -> None:
        self._inner.observe_first_text_latency(model, seconds)

    def observe_response_duration(self, model: str, status: str, seconds: float) -> None:
        self._inner.observe_response_duration(model, status, seconds)

    def observe_overhead(self, direction: str, seconds: float) -> None:
        self._inner.observe_overhead(direction, seconds)

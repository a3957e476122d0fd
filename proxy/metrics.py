"""Prometheus metrics on an injected registry (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

_PREFIX = "inworld_proxy"


class Metrics:
    """The proxy's metric families, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.sessions_active = Gauge(
            f"{_PREFIX}_sessions_active", "Client sessions currently open.", registry=registry
        )
        self.sessions = Counter(
            f"{_PREFIX}_sessions",
            "Client sessions ended, by who ended them.",
            ["ended_by"],
            registry=registry,
        )
        self.upstream_handshake_failures = Counter(
            f"{_PREFIX}_upstream_handshake_failures",
            "Upstream handshakes that failed, by HTTP status (or 'none').",
            ["status"],
            registry=registry,
        )
        self.sessions_refused = Counter(
            f"{_PREFIX}_sessions_refused",
            "Client sessions refused before relaying, by reason (max_sessions, draining).",
            ["reason"],
            registry=registry,
        )
        self.session_duration = Histogram(
            f"{_PREFIX}_session_duration_seconds",
            "Client session duration.",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=registry,
        )

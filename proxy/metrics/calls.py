"""Metric families of WebRTC calls (`POST /v1/realtime/calls`), on the injected registry.

Registered with the other families whether or not the `webrtc` extra is installed, so a
dashboard's queries never go missing. Labels are bounded: `direction` is `inbound` (RTP from
the client to the proxy) or `outbound` (RTP from the proxy, as the client's receiver reports
count it); `reason` is `timeout` (ICE and DTLS did not connect within `webrtc.connect_timeout`)
or `failed` (the ICE agent gave up). Sessions, turn latency, barge-ins and audio seconds of a
call are counted in the common families with `transport="webrtc"`
(`proxy.metrics.collectors`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["ICE_FAILURE_REASONS", "INBOUND", "OUTBOUND", "CallMetrics"]

INBOUND, OUTBOUND = "inbound", "outbound"
ICE_FAILURE_REASONS = ("timeout", "failed")
_PREFIX = "inworld_proxy_webrtc"
_JITTER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5)


class CallMetrics:
    """ICE failures, RTP packets received and lost, and jitter, of every call."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ice_failures = Counter(
            f"{_PREFIX}_ice_failures",
            "Calls that ended because ICE/DTLS did not connect, by reason (timeout, failed).",
            ["reason"],
            registry=registry,
        )
        self.packets = Counter(
            f"{_PREFIX}_packets",
            "RTP audio packets received, by direction (inbound: from the client; outbound: "
            "from the proxy, as the client reports them).",
            ["direction"],
            registry=registry,
        )
        self.packets_lost = Counter(
            f"{_PREFIX}_packets_lost",
            "RTP audio packets lost, by direction (from the peers' receiver statistics).",
            ["direction"],
            registry=registry,
        )
        self.jitter = Histogram(
            f"{_PREFIX}_jitter_seconds",
            "Interarrival jitter of a call's audio, one observation per call per statistics "
            "sample, by direction.",
            ["direction"],
            buckets=_JITTER_BUCKETS,
            registry=registry,
        )
        for direction in (INBOUND, OUTBOUND):
            self.packets.labels(direction)
            self.packets_lost.labels(direction)
        for reason in ICE_FAILURE_REASONS:
            self.ice_failures.labels(reason)

    def count(self, direction: str, what: str, n: int) -> None:
        """Add `n` packets `received` or `lost` in `direction`."""
        family = self.packets if what == "received" else self.packets_lost
        family.labels(direction).inc(n)

"""Packet loss and jitter of a call, from its peer connection's statistics.

`CallStats.sample(report)` reads one `RTCPeerConnection.getStats()` report and feeds the
`CallMetrics` families with what changed since the previous sample: packets received and lost
from the client (`inbound-rtp`), packets the client reports received and lost from the proxy
(`remote-inbound-rtp`, from its RTCP receiver reports), and each direction's jitter (RTP
timestamp units at Opus's 48 kHz clock, converted to seconds). Labels are the two directions
only. Loss counters only grow: a report whose cumulative count went down (a new SSRC) starts
that stream's baseline again.
"""

from __future__ import annotations

from typing import Any

from proxy.metrics.calls import INBOUND, OUTBOUND, CallMetrics

__all__ = ["CallStats"]

_CLOCK = 48000  # Opus's RTP clock rate


class CallStats:
    """Cumulative counts seen so far for one call."""

    def __init__(self, metrics: CallMetrics) -> None:
        self._metrics = metrics
        self._seen: dict[tuple[str, str], int] = {}  # (direction, what) -> cumulative count

    def _add(self, direction: str, what: str, total: Any) -> None:
        if not isinstance(total, int) or total < 0:
            return
        before = self._seen.get((direction, what), 0)
        self._seen[direction, what] = total
        grown = total - before if total >= before else total
        if grown:
            self._metrics.count(direction, what, grown)

    def sample(self, report: Any) -> None:
        """Fold one stats report (a mapping of stats objects) into the metrics."""
        for stats in getattr(report, "values", lambda: ())():
            kind = getattr(stats, "type", None)
            if kind == "inbound-rtp":
                direction = INBOUND
            elif kind == "remote-inbound-rtp":
                direction = OUTBOUND
            else:
                continue
            self._add(direction, "received", getattr(stats, "packetsReceived", None))
            self._add(direction, "lost", getattr(stats, "packetsLost", None))
            jitter = getattr(stats, "jitter", None)
            if isinstance(jitter, int | float) and jitter >= 0:
                self._metrics.jitter.labels(direction).observe(jitter / _CLOCK)

    @property
    def totals(self) -> dict[str, int]:
        """For the call's closing log line: `<direction>_<received|lost>` -> packets."""
        return {f"{d}_{w}": n for (d, w), n in sorted(self._seen.items())}

"""What `compare` measured: the samples of one target, and the report built from them.

`Samples` collects one target's measurements over its runs (milliseconds); `summarize` turns
them into the report `--json` writes and the table and HTML page show: per measure p50, p95
(linear interpolation), mean, min, max, count and the values, targets fastest first by turn
latency p50, URLs without credentials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from proxy import __version__
from proxy.cli.compare_script import Plan

__all__ = ["Samples", "percentile", "summarize"]

_SECRET_WORDS = ("key", "token", "secret", "auth")


@dataclass
class Samples:
    """What one or more runs against one target measured (milliseconds)."""

    turn_latency_ms: list[float] = field(default_factory=list)
    first_text_ms: list[float] = field(default_factory=list)
    barge_in_reaction_ms: list[float] = field(default_factory=list)
    barge_in_done_ms: list[float] = field(default_factory=list)
    barge_ins_missed: int = 0
    errors: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)
    audio_seconds_out: float = 0.0
    tokens: int = 0

    def error(self, code: str) -> None:
        """Count one error."""
        self.errors += 1
        self.error_codes[code] = self.error_codes.get(code, 0) + 1

    def merge(self, other: Samples) -> None:
        """Add another run's samples to these."""
        for name in ("turn_latency_ms", "first_text_ms", "barge_in_reaction_ms"):
            getattr(self, name).extend(getattr(other, name))
        self.barge_in_done_ms.extend(other.barge_in_done_ms)
        self.barge_ins_missed += other.barge_ins_missed
        self.errors += other.errors
        for code, n in other.error_codes.items():
            self.error_codes[code] = self.error_codes.get(code, 0) + n
        self.audio_seconds_out += other.audio_seconds_out
        self.tokens += other.tokens


def percentile(values: list[float], q: float) -> float | None:
    """The `q` quantile (0-1) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _stats(values: list[float]) -> dict[str, Any]:
    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "p50": r(percentile(values, 0.5)),
        "p95": r(percentile(values, 0.95)),
        "mean": r(sum(values) / len(values)) if values else None,
        "min": r(min(values, default=None)),
        "max": r(max(values, default=None)),
        "count": len(values),
        "values": [round(v, 1) for v in values],
    }


def summarize(
    results: Mapping[str, Samples], urls: Mapping[str, str], plan: Plan, runs: int
) -> dict[str, Any]:
    """The JSON report: `{"targets": {NAME: {...}}, ...}`, fastest target first."""
    targets: dict[str, dict[str, Any]] = {}
    for name, s in results.items():
        targets[name] = {
            "url": _shown(urls[name]),
            "runs": runs,
            "turns": len(s.turn_latency_ms),
            "turn_latency_ms": _stats(s.turn_latency_ms),
            "first_text_ms": _stats(s.first_text_ms),
            "barge_in_reaction_ms": _stats(s.barge_in_reaction_ms),
            "barge_in_done_ms": _stats(s.barge_in_done_ms),
            "barge_ins_missed": s.barge_ins_missed,
            "errors": s.errors,
            "error_codes": dict(sorted(s.error_codes.items())),
            "audio_seconds_out": round(s.audio_seconds_out, 2),
            "tokens": s.tokens,
        }

    def speed(name: str) -> float:
        p50 = targets[name]["turn_latency_ms"]["p50"]
        return math.inf if p50 is None else float(p50)

    ranking = sorted(targets, key=speed)
    return {
        "version": __version__,
        "script": {
            "turns": [t.name for t in plan.turns],
            "runs": runs,
            "barge_in": bool(plan.barge_in),
            "barge_in_after_ms": plan.barge_in_after_ms if plan.barge_in else None,
        },
        "ranking": ranking,
        "targets": {name: targets[name] for name in ranking},
    }


def _shown(url: str) -> str:
    """`url` without credentials: no user info, and secret-looking query values hidden."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = [
        (k, "***" if any(w in k.lower() for w in _SECRET_WORDS) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))

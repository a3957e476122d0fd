"""The `compare --html` page: one self-contained file (inline CSS and SVG, no script, nothing
fetched) with the results table and, per measure, the targets' latency distributions side by
side on the same scale, p50 and p95 marked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["html_report"]

_MEASURES = (
    ("turn_latency_ms", "Turn latency", "end of the user's turn to the first audio delta"),
    ("first_text_ms", "First text", "end of the user's turn to the first transcript delta"),
    (
        "barge_in_reaction_ms",
        "Barge-in reaction",
        "the user starts speaking again to the reply's last audio delta",
    ),
    ("barge_in_done_ms", "Barge-in done", "the user starts speaking again to response.done"),
)
_COLORS = ("#2f6fdf", "#e07b24", "#2a9d5c", "#c23b6c", "#7a55c7", "#8c7a2b")
_BINS = 25
_W, _H, _PAD = 320, 170, 28
_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.row { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; } figcaption { font-weight: 600; }
.note { color: #666; }
"""


def html_report(report: Mapping[str, Any]) -> str:
    """The page for a `proxy.cli.compare.summarize` report."""
    targets: Mapping[str, Any] = report["targets"]
    colors = {name: _COLORS[i % len(_COLORS)] for i, name in enumerate(targets)}
    script = report.get("script", {})
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Realtime comparison</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Realtime comparison</h1>",
        f'<p class="note">inworld-realtime-proxy {escape(str(report.get("version", "")))}; '
        f"{len(script.get('turns', []))} scripted user turns, "
        f"runs per target: {escape(str(script.get('runs', 1)))}"
        f"{'; with barge-in' if script.get('barge_in') else ''}. "
        "Fastest first (turn latency p50).</p>",
        _table(targets),
    ]
    for key, title, meaning in _MEASURES:
        if any(t[key]["values"] for t in targets.values()):
            parts.append(f'<h2>{escape(title)}</h2><p class="note">{escape(meaning)}</p>')
            parts.append(_charts(targets, key, colors))
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(targets: Mapping[str, Any]) -> str:
    head = ("target", "turns", "turn p50", "turn p95", "first text p50", "barge-in p50",
            "barge-in p95", "errors", "audio out", "tokens")  # fmt: skip
    rows = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for name, t in targets.items():
        cells = (
            escape(name), t["turns"], _ms(t["turn_latency_ms"]["p50"]),
            _ms(t["turn_latency_ms"]["p95"]), _ms(t["first_text_ms"]["p50"]),
            _ms(t["barge_in_reaction_ms"]["p50"]), _ms(t["barge_in_reaction_ms"]["p95"]),
            t["errors"], f"{t['audio_seconds_out']:.1f} s", t["tokens"],
        )  # fmt: skip
        url = escape(str(t.get("url", "")))
        cells_html = "".join(
            f'<td title="{url}">{c}</td>' if i == 0 else f"<td>{c}</td>"
            for i, c in enumerate(cells)
        )
        rows.append(f"<tr>{cells_html}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _charts(targets: Mapping[str, Any], key: str, colors: Mapping[str, str]) -> str:
    """One histogram per target, all on the same axes."""
    everything = [v for t in targets.values() for v in t[key]["values"]]
    top = _nice(max(everything) * 1.05 if everything else 1.0)
    counts = {name: _histogram(t[key]["values"], top) for name, t in targets.items()}
    tallest = max((max(c) for c in counts.values()), default=1) or 1
    figures = [
        f'<figure><figcaption>{escape(name)} <span class="note">p50 {_ms(t[key]["p50"])}, '
        f"p95 {_ms(t[key]['p95'])} (dashed, dotted)</span></figcaption>"
        f"{_svg(counts[name], t[key], top, tallest, colors[name])}</figure>"
        for name, t in targets.items()
    ]
    return '<div class="row">' + "".join(figures) + "</div>"


def _histogram(values: Sequence[float], top: float) -> list[int]:
    counts = [0] * _BINS
    for value in values:
        counts[min(_BINS - 1, max(0, int(value / top * _BINS)))] += 1
    return counts


def _svg(counts: list[int], stats: Mapping[str, Any], top: float, tallest: int, color: str) -> str:
    plot_w, plot_h = _W - 2 * _PAD, _H - 2 * _PAD
    bar = plot_w / _BINS
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img">',
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#888"/>',
    ]
    for i, count in enumerate(counts):
        if count:
            h = plot_h * count / tallest
            x, y = _PAD + i * bar, _H - _PAD - h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{count}</title></rect>'
            )
    for frac in (0, 0.5, 1):
        x = _PAD + plot_w * frac
        out.append(
            f'<text x="{x:.1f}" y="{_H - _PAD + 14}" font-size="10" text-anchor="middle">'
            f"{top * frac:.0f} ms</text>"
        )
    for label, dash in (("p50", "4 2"), ("p95", "1 2")):
        value = stats.get(label)
        if value is not None:
            x = _PAD + plot_w * min(1.0, value / top)
            out.append(
                f'<line x1="{x:.1f}" y1="{_PAD - 6}" x2="{x:.1f}" y2="{_H - _PAD}" '
                f'stroke="#222" stroke-dasharray="{dash}"><title>{label} {value:.0f} ms</title>'
                "</line>"
            )
    if not counts or not any(counts):
        out.append(f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no samples</text>')
    out.append("</svg>")
    return "".join(out)


def _nice(value: float) -> float:
    """`value` rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"

"""Draw the relay bench's scale figures as one SVG chart, from the JSON `bench.relay` writes.

    python -m bench.relay --paths direct nginx proxy --sessions 20 100 500@10 --idle 20 100 500 \\
        --json scale.json
    python -m bench.chart scale.json --sessions 20 100 500 -o docs/img/scale.svg

Three panels, one point per session count of the run (medians over its rounds, as in its
tables): the latency the middle adds to a round trip over the direct path (p50 and p99), its CPU
in % of one core, and its memory (RSS while the sessions stream, and with the same number of
idle sessions held). Plain SVG written by hand: no plotting library, the same bytes for the
same JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "render"]

_W, _H = 300, 220  # one panel
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 34, 40
_STYLE = {  # (path, what) -> colour, dash
    ("proxy", "p50"): ("#1f77b4", ""),
    ("proxy", "p99"): ("#1f77b4", "5,3"),
    ("nginx", "p50"): ("#7f7f7f", ""),
    ("nginx", "p99"): ("#7f7f7f", "5,3"),
    ("litellm", "p50"): ("#d62728", ""),
    ("litellm", "p99"): ("#d62728", "5,3"),
    ("proxy", "active"): ("#1f77b4", ""),
    ("proxy", "idle"): ("#1f77b4", "5,3"),
    ("nginx", "active"): ("#7f7f7f", ""),
    ("nginx", "idle"): ("#7f7f7f", "5,3"),
    ("litellm", "active"): ("#d62728", ""),
    ("litellm", "idle"): ("#d62728", "5,3"),
}

Series = tuple[str, str, list[float | None]]  # (path, what, one value per session count)


def _label(row: dict[str, Any]) -> str:
    fps = row.get("fps", 50)
    return str(row["sessions"]) if fps == 50 else f"{row['sessions']} ({fps}/s)"


def _series(
    rows: list[dict[str, Any]],
    counts: list[int],
    paths: Sequence[str],
    what: str,
    value: Callable[[dict[str, Any]], float | None],
) -> list[Series]:
    out = []
    for path in paths:
        by_count = {r["sessions"]: value(r) for r in rows if r["path"] == path}
        points = [by_count.get(n) for n in counts]
        if any(p is not None for p in points):
            out.append((path, what, points))
    return out


def _nice_top(value: float) -> float:
    """A round axis maximum at or above `value`: 1, 2, 2.5 or 5 times a power of ten."""
    power = 10 ** math.floor(math.log10(max(value, 1e-9)))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if value <= m * power)


def _panel(x0: int, title: str, unit: str, labels: list[str], series: list[Series]) -> list[str]:
    values = [v for _, _, points in series for v in points if v is not None]
    top = _nice_top(max(values, default=1.0) * 1.05)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    ox, oy = x0 + _LEFT, _TOP + plot_h

    def xy(i: int, v: float) -> tuple[float, float]:
        x = ox + (plot_w * (i + 0.5) / len(labels))
        return x, oy - plot_h * max(v, 0.0) / top

    out = [
        f'<text x="{x0 + _W / 2}" y="16" text-anchor="middle" font-weight="bold">{title}</text>',
        f'<line x1="{ox}" y1="{oy}" x2="{ox + plot_w}" y2="{oy}" stroke="#333"/>',
        f'<line x1="{ox}" y1="{_TOP}" x2="{ox}" y2="{oy}" stroke="#333"/>',
    ]
    for k in range(6):
        v = top * k / 5
        y = oy - plot_h * k / 5
        out.append(f'<line x1="{ox}" y1="{y}" x2="{ox + plot_w}" y2="{y}" stroke="#eee"/>')
        out.append(f'<text x="{ox - 4}" y="{y + 4}" text-anchor="end">{v:g}</text>')
    out.append(
        f'<text x="{x0 + 12}" y="{_TOP + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 {x0 + 12} {_TOP + plot_h / 2})">{unit}</text>'
    )
    for i, label in enumerate(labels):
        x, _ = xy(i, 0)
        out.append(f'<text x="{x}" y="{oy + 16}" text-anchor="middle">{label}</text>')
    out.append(f'<text x="{ox + plot_w / 2}" y="{oy + 32}" text-anchor="middle">sessions</text>')
    for path, what, points in series:
        colour, dash = _STYLE.get((path, what), ("#2ca02c", ""))
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        coords = [xy(i, v) for i, v in enumerate(points) if v is not None]
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        out.append(
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dashes}/>'
        )
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in coords]
    return out


def render(result: dict[str, Any], sessions: Sequence[int] = ()) -> str:
    """The SVG chart of one `bench.relay` JSON result (its real-time and idle summary rows;
    only those of these session counts, if any are given)."""
    summary = [r for r in result["summary"] if not sessions or r["sessions"] in sessions]
    live = [r for r in summary if r["mode"] == "realtime"]
    idle = [r for r in summary if r["mode"] == "idle"]
    counts = sorted({r["sessions"] for r in live})
    labels = [_label(next(r for r in live if r["sessions"] == n)) for n in counts]
    middles = [p for p in ("proxy", "nginx", "litellm") if any(r["path"] == p for r in live)]
    latency = _series(live, counts, middles, "p50", lambda r: r.get("p50_ms_vs_direct"))
    latency += _series(live, counts, middles, "p99", lambda r: r.get("p99_ms_vs_direct"))
    cpu = _series(live, counts, middles, "active", lambda r: r.get("middle_cpu_pct"))
    memory = _series(live, counts, middles, "active", lambda r: _mib(r.get("peak_rss_kib")))
    memory += _series(idle, counts, middles, "idle", lambda r: _mib(r.get("rss_kib")))
    width = 3 * _W
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{_H + 40}" '
        f'viewBox="0 0 {width} {_H + 40}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{_H + 40}" fill="white"/>',
    ]
    out += _panel(0, "Added latency over direct", "ms", labels, latency)
    out += _panel(_W, "CPU", "% of one core", labels, cpu)
    out += _panel(2 * _W, "Memory (RSS)", "MiB", labels, memory)
    legend = [(p, "") for p in middles] + [
        ("solid: p50 / streaming", ""),
        ("dashed: p99 / idle", "5,3"),
    ]
    x = 20.0
    for name, dash in legend:
        colour = _STYLE.get((name, "p50"), ("#333", ""))[0]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        y = _H + 24
        out.append(
            f'<line x1="{x}" y1="{y - 4}" x2="{x + 22}" y2="{y - 4}" stroke="{colour}" '
            f'stroke-width="2"{dashes}/>'
        )
        out.append(f'<text x="{x + 28}" y="{y}">{name}</text>')
        x += 40 + 7 * len(name)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _mib(kib: float | None) -> float | None:
    return None if kib is None else kib / 1024


def main(argv: list[str] | None = None) -> int:
    """Read a `bench.relay --json` file, write the chart."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.chart", description=__doc__.splitlines()[0]
    )
    parser.add_argument("result", type=Path, help="JSON written by `bench.relay --json`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the SVG to write")
    parser.add_argument("--sessions", type=int, nargs="*", default=[], help="only these counts")
    args = parser.parse_args(argv)
    args.output.write_text(render(json.loads(args.result.read_text()), args.sessions))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A smoke run of the relay benchmark (bench/), so it never rots: sane numbers, no targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from bench.procs import litellm_binary, nginx_binary

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke_run_measures_every_path(tmp_path: Path) -> None:
    """`python -m bench.relay --smoke` relays every frame on every path and measures them
    (LiteLLM's in real time only, and only where its virtualenv is: bench/procs.py)."""
    out = tmp_path / "bench.json"
    printed = subprocess.run(
        [sys.executable, "-m", "bench.relay", "--smoke", "--json", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    ).stdout
    result = json.loads(out.read_text())
    expected = {"direct", "proxy", *(["nginx"] if nginx_binary() else [])}
    expected |= {"litellm"} if litellm_binary() else set()
    assert {run["path"] for run in result["runs"]} == expected
    assert set(result["skipped_paths"]) == {"nginx", "litellm"} - expected
    assert result["machine"]["cores"]
    for run in result["runs"]:
        middle = run["path"] != "direct"
        if run["mode"] == "idle":
            assert run["alive"] == run["sessions"]
            assert run["rss_kib"] > 0
            continue
        assert run["bad"] == 0
        assert run["sent"] > 0
        assert run["round_trips"] == run["sent"]  # every frame came back
        assert 0 < run["p50_ms"] <= run["p99_ms"] < 1000
        if middle:
            assert run["middle_cpu_s"] > 0
            assert run["cpu_ms_per_1000_frames"] > 0
            assert run["peak_rss_kib"] >= run["baseline_rss_kib"] > 0
    realtime = [run for run in result["runs"] if run["mode"] == "realtime"]
    assert all(run["sent"] >= 2 * 40 for run in realtime)  # 2 sessions x 50 frames/s x ~1 s
    summary = {(row["mode"], row["path"]): row for row in result["summary"]}
    assert "p50_ms_vs_direct" in summary["realtime", "proxy"]
    header = next(line for line in printed.splitlines() if line.startswith("| mode |"))
    assert "| p50 vs direct | p99 vs direct | p50 vs nginx |" in header  # added latency, both refs
    chart = tmp_path / "scale.svg"  # docs/img/scale.svg is drawn from such a file
    subprocess.run(
        [sys.executable, "-m", "bench.chart", str(out), "-o", str(chart)], cwd=ROOT, check=True
    )
    svg = ElementTree.parse(chart).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in svg.iter(f"{ns}text") if t.get("font-weight") == "bold"]
    assert titles == ["Added latency over direct", "CPU", "Memory (RSS)"]
    assert len(list(svg.iter(f"{ns}circle"))) >= 4  # the proxy's: p50, p99, CPU, RSS


def test_hotpath_smoke_run_relays_every_frame_as_received(tmp_path: Path) -> None:
    """`python -m bench.hotpath --smoke`: every variant relays each timed frame unchanged (the
    bench fails otherwise) and reports a time per frame each way; no targets."""
    out = tmp_path / "hotpath.json"
    subprocess.run(
        [sys.executable, "-m", "bench.hotpath", "--smoke", "--json", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    rows = json.loads(out.read_text())
    assert [row["variant"] for row in rows] == ["proxy", "python-lane", "no-metrics", "debug-log"]
    for row in rows:
        assert row["up_ns_per_frame"] > 0
        assert row["down_ns_per_frame"] > 0
        assert row["frames_up"] == row["frames"]  # every timed append went up
        assert row["frames_down"] >= row["frames"]  # and every delta down (+ session.created)


def test_webrtc_bench_smoke_run_measures_a_call() -> None:
    """`python -m bench.webrtc --calls 1 --seconds 3`: one real call through a proxy process,
    its CPU and both delays measured (clicks heard each way)."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.webrtc", "--calls", "1", "--seconds", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    [row] = [line for line in result.stdout.splitlines() if line.startswith("| webrtc | 1 |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[2].rstrip(" %")) > 0  # the proxy's CPU per call
    assert "n=0" not in cells[4], row  # clicks crossed up ...
    assert "n=0" not in cells[5], row  # ... and down

"""A smoke run of the relay benchmark (bench/), so it never rots: sane numbers, no targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.procs import nginx_binary

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke_run_measures_every_path(tmp_path: Path) -> None:
    """`python -m bench.relay --smoke` relays every frame on every path and measures them."""
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
    assert {run["path"] for run in result["runs"]} == expected
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
    assert [row["variant"] for row in rows] == ["proxy", "no-metrics", "debug-log"]
    for row in rows:
        assert row["up_ns_per_frame"] > 0
        assert row["down_ns_per_frame"] > 0
        assert row["frames_up"] == row["frames"]  # every timed append went up
        assert row["frames_down"] >= row["frames"]  # and every delta down (+ session.created)

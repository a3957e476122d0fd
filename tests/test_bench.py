"""A smoke run of the relay benchmark (bench/), so it never rots: sane numbers, no targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.procs import nginx_binary

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_run_measures_every_path(tmp_path: Path) -> None:
    """`python -m bench.relay --smoke` relays every frame on every path and measures them."""
    out = tmp_path / "bench.json"
    subprocess.run(
        [sys.executable, "-m", "bench.relay", "--smoke", "--json", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=180,
    )
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

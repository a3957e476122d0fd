"""bench/soak.py in miniature, so the soak never rots (the full run is not in CI)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_soak_smoke_is_flat() -> None:
    """A few seconds of churn and audio: the soak completes and reports FLAT."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "soak.py"),
        "--cycles", "30", "--parallel", "5", "--sessions", "3", "--seconds", "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(90):
        out, _ = await process.communicate()
    text = out.decode()
    assert process.returncode == 0, text
    assert "round 2: after 3 sessions x 3 s of audio" in text
    assert text.strip().endswith("FLAT"), text

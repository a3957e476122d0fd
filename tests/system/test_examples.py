"""The README's first turn, run as written: `examples/first_turn.py` against `--emulator`."""

from __future__ import annotations

import asyncio
import os
import re
import sys

from tests.support.processes import ROOT, TIMEOUT, start_process, stop, wait_for_event


def readme_expected_output() -> str:
    """The text block the README shows as the example's expected output."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"first_turn\.py` runs one voice turn.*?```text\n(.*?)```", readme, re.S)
    assert match, "the README lost the first turn's expected output"
    return match.group(1)


async def test_first_turn_example_prints_what_the_readme_says() -> None:
    """A newcomer's first command after the Quick start (a voice turn: audio in, server VAD,
    audio and transcript out) prints exactly the README's block."""
    process = await start_process("--emulator", "--port", "0")
    try:
        listening = await wait_for_event(process, "listening")
        base = listening["url"].removesuffix("/realtime")
        env = {**os.environ, "PROXY_URL": base, "OPENAI_API_KEY": "sk-local"}
        example = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "examples" / "first_turn.py"),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(TIMEOUT):
            out, err = await example.communicate()
    finally:
        assert await stop(process) == 0
    assert example.returncode == 0, err.decode()
    assert out.decode() == readme_expected_output()

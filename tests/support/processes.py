"""The proxy as a real process: start it, read its JSON log lines, stop it with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

TIMEOUT = 20
ROOT = Path(__file__).resolve().parents[2]


async def start_process(*args: str, env: dict[str, str] | None = None) -> Any:
    """Start `python -m proxy ARGS` with JSON logs on stdout."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("INWORLD_", "PROXY_"))}
    full_env.update(env or {})
    full_env["PROXY_LOG_FORMAT"] = "json"
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", *args,
        cwd=ROOT, env=full_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def log_lines(process: Any) -> AsyncIterator[dict[str, Any]]:
    """The process's JSON log lines, parsed (non-JSON lines are skipped)."""
    while line := await process.stdout.readline():
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError:
            continue


async def wait_for_event(process: Any, event: str) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        async for record in log_lines(process):
            if record.get("event") == event:
                return record
    raise AssertionError(f"process ended before logging {event}")


async def stop(process: Any) -> int:
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(TIMEOUT):
        return int(await process.wait())

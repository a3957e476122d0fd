"""Helpers for the real-client tests: component checks and running the Node drivers.

A missing client component (Python package, Node, the npm install, Chromium) skips a test
locally with the install command in the reason, but fails it when ``CI`` is set: CI installs
everything (``.ci/run``), so a skip there would hide a broken install step.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

from tests.support.stack import Stack

__all__ = [
    "CHROMIUM",
    "NODE_DIR",
    "missing",
    "proxy_address",
    "require_chromium",
    "require_module",
    "require_node",
    "run_node",
]

NODE_DIR = Path(__file__).resolve().parents[1] / "system" / "clients" / "node"
CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it)
NODE_TIMEOUT = 60.0


def missing(what: str, install: str) -> NoReturn:
    """Fail under CI, skip otherwise, naming the component and how to install it."""
    message = f"{what} is not installed (install with: {install})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must install it (.ci/run)")
    pytest.skip(message)


def require_module(name: str) -> ModuleType:
    """Import a client library from the `clients` extra, or fail/skip."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"Python module {name!r} ({exc})", "pip install -e '.[clients]'")


def require_node() -> str:
    """The `node` executable with the drivers' npm packages installed, or fail/skip."""
    node = shutil.which("node")
    if node is None:
        missing("node", "apt-get install nodejs npm")
    if not (NODE_DIR / "node_modules" / ".package-lock.json").is_file():
        missing("the Node client packages", f"npm ci --prefix {NODE_DIR}")
    return node


def require_chromium() -> str:
    """Debian's Chromium executable, or fail/skip."""
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"chromium ({CHROMIUM})", "apt-get install chromium")
    return CHROMIUM


def proxy_address(stack: Stack) -> str:
    """`host:port` of the stack's proxy."""
    return f"{stack.proxy.host}:{stack.proxy.port}"


async def run_node(script: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run a driver in tests/system/clients/node without blocking the event loop; return its JSON.

    The servers of the `stack` fixture run in the test's own event loop, so the driver must
    be awaited, never run with a blocking call. A non-zero exit fails with the driver's stderr.
    `env` adds variables to the driver's environment.
    """
    node = require_node()
    proc = await asyncio.create_subprocess_exec(
        node,
        script,
        *args,
        cwd=NODE_DIR,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(NODE_TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"node {script} did not finish within {NODE_TIMEOUT} s") from None
    if proc.returncode != 0:
        raise AssertionError(f"node {script} exited {proc.returncode}:\n{err.decode()}")
    lines = out.decode().strip().splitlines()
    assert lines, f"node {script} printed nothing; stderr:\n{err.decode()}"
    return json.loads(lines[-1])

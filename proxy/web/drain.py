"""Graceful shutdown: stop taking sessions, let live ones finish for a grace period.

`drain(app, grace, hurry)` is what the CLI runs on SIGTERM/SIGINT before `runner.cleanup()`:
it sets `Lifecycle.draining` (so `/readyz` answers 503 and new sessions get an HTTP 503 JSON
error before any upgrade) and waits until the last session has ended, `grace` seconds have
passed, or `hurry` is set (a second signal). Sessions still open are then closed with 1001 by
the application's `on_shutdown` hook.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from proxy.web.appkeys import LIFECYCLE, SESSIONS

__all__ = ["drain"]


async def drain(
    app: web.Application,
    grace: float,
    hurry: asyncio.Event,
    log: structlog.typing.FilteringBoundLogger,
) -> int:
    """Refuse new sessions and wait for live ones; return how many are still open."""
    lifecycle, sockets = app[LIFECYCLE], app[SESSIONS]
    lifecycle.draining = True
    log.info("draining", sessions=len(sockets), grace_s=grace)
    if sockets and grace > 0:
        try:
            async with asyncio.timeout(grace), asyncio.TaskGroup() as tg:
                waits = (tg.create_task(lifecycle.idle.wait()), tg.create_task(hurry.wait()))
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for task in waits:
                    task.cancel()
        except TimeoutError:
            pass
    left = len(sockets)
    log.info("drained", sessions_left=left)
    return left

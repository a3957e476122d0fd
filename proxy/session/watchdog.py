"""The session watchdog: start deadline, idle timeout and maximum duration (`[limits]`).

One task per session wakes a few times per period and reads a frame counter the relay bumps;
nothing runs per frame. When a limit is reached it calls `expire(code, close_code, reason)`
(the relay then tells the client and closes both sides) and returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from proxy.config import LimitsConfig

__all__ = ["watch"]


async def watch(
    lim: LimitsConfig,
    *,
    ready: asyncio.Event,
    started: Callable[[], bool],
    activity: Callable[[], int],
    expire: Callable[[str, int, str], Awaitable[None]],
) -> None:
    """Enforce the session's time limits until one is reached (or none is left to watch).

    Args:
        ready: set once the upstream is open (the dial has its own deadline).
        started: True once the session has started (the client was sent `session.created`).
        activity: a counter of frames either way, keep-alives excepted.
        expire: ends the session for a limit (`idle_timeout`, `session_expired`, ...).
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    await ready.wait()  # the dial has its own deadline (connect_timeout)
    now = loop.time()
    start_by = now + lim.session_start_timeout if lim.session_start_timeout else None
    end_at = began + lim.max_session_duration if lim.max_session_duration else None
    idle, seen, quiet_since = lim.idle_timeout, activity(), now
    while True:
        if start_by is not None and started():
            start_by = None
        if start_by is not None and now >= start_by:
            await expire("upstream_timeout", 1011, "upstream session did not start")
            return
        if end_at is not None and now >= end_at:
            await expire("session_expired", 1000, "maximum session duration reached")
            return
        if activity() != seen:
            seen, quiet_since = activity(), now
        elif idle and now - quiet_since >= idle:
            await expire("idle_timeout", 1000, "idle timeout")
            return
        wake = [t for t in (start_by, end_at) if t is not None]
        if idle:  # activity is sampled, so the timeout fires within idle * 1.25
            wake.append(min(quiet_since + idle, now + idle / 4))
        if not wake:
            return
        await asyncio.sleep(max(min(wake) - now, 0.001))
        now = loop.time()

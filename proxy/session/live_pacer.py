"""The output pacer of a Live session: frames leave for the client at their scheduled times.

`proxy.core.live_output` decides when each output frame (audio delta, transcript fragment)
may leave: about real time, a little ahead (docs/live.md#audio-pacing-and-barge-in). The pacer
only keeps that order and that time: a frame due now goes out at once when nothing waits before
it; otherwise it waits in a FIFO, and one loop timer (`call_at`) wakes for the head. No task,
no sleep loop; a barge-in drops the whole FIFO (`flush`).

Held frames are bounded (`max_bytes`): Inworld answering faster than real time is the normal
case, but a reply longer than that budget ends the session (`on_full`) rather than grow without
limit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["Pacer"]


class Pacer:
    """Release frames through `send` at loop times.

    Args:
        loop: the session's event loop (its `time()` is the clock the core schedules with).
        send: writes one frame to the client; False when the client is too far behind (the
            pacer then stops: the relay ends the session).
        max_bytes: the most frame bytes held at once.
        on_full: called once when a frame would pass `max_bytes` (the frame is dropped).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        send: Callable[[bytes], bool],
        *,
        max_bytes: int,
        on_full: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._send = send
        self._max = max_bytes
        self._on_full = on_full
        self._queue: deque[tuple[float, bytes]] = deque()
        self._held = 0
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False

    @property
    def held(self) -> int:
        """Frames waiting."""
        return len(self._queue)

    def push(self, frame: bytes, at: float) -> None:
        """Send `frame` at loop time `at` (at once if due and nothing waits before it)."""
        if self._stopped:
            return
        if not self._queue and at <= self._loop.time():
            if not self._send(frame):
                self.close()
            return
        if self._held + len(frame) > self._max:
            self.close()
            self._on_full()
            return
        self._queue.append((at, frame))
        self._held += len(frame)
        if self._timer is None:
            self._timer = self._loop.call_at(self._queue[0][0], self._release)

    def _release(self) -> None:
        """Send every frame that is due; wake again for the next one."""
        self._timer = None
        now = self._loop.time()
        queue = self._queue
        while queue and queue[0][0] <= now:
            _, frame = queue.popleft()
            self._held -= len(frame)
            if not self._send(frame):
                self.close()
                return
        if queue:
            self._timer = self._loop.call_at(queue[0][0], self._release)

    def flush(self) -> int:
        """Drop every waiting frame (a barge-in); returns how many were dropped."""
        dropped = len(self._queue)
        self._queue.clear()
        self._held = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return dropped

    def close(self) -> None:
        """Stop for good: drop what waits, send nothing more."""
        self._stopped = True
        self.flush()

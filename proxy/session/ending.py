"""How a session ends, shared by the WebSocket relay and the WebRTC call shell.

`SessionEnd` is the record of one session's end (its closing log line and metrics read it);
`upstream_refused` records a refused upstream handshake on it and says what the client gets
(`proxy.core.error_events.upstream_refusal`); `serve_until` runs a session's tasks in one
task group until the session is done, then cancels them, so no task outlives it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from proxy.core.error_events import upstream_refusal
from proxy.metrics.collectors import session_outcome
from proxy.upstream.inworld import UpstreamRefused

__all__ = ["Job", "SessionEnd", "serve_until", "upstream_refused"]

Job = tuple[Coroutine[Any, Any, None], str]  # a coroutine and its task's name


@dataclass(slots=True)
class SessionEnd:
    """How a session ended, for the session's closing log line (and metrics)."""

    ended_by: str = "unknown"  # client | upstream | proxy
    client_code: int | None = None
    upstream_code: int | None = None
    reason: str = ""
    upstream_status: int | None = None  # HTTP status of a refused upstream handshake
    handshake_failed: bool = False
    frames_up: int = 0
    frames_down: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def outcome(self) -> str:
        """A bounded label for how the session ended
        (`proxy.metrics.collectors.session_outcome`)."""
        return session_outcome(
            self.ended_by, handshake_failed=self.handshake_failed, upstream_code=self.upstream_code
        )


def upstream_refused(
    end: SessionEnd, exc: UpstreamRefused, provider: str
) -> tuple[dict[str, Any], int, str]:
    """Record the refused upstream handshake `exc` on `end`; return the client's (error event,
    close code, close reason), the refusal named after `provider`."""
    end.upstream_status = exc.status
    end.handshake_failed = True
    end.reason = f"upstream handshake failed: {exc.detail}"
    return upstream_refusal(exc.status, exc.detail, provider)


async def serve_until(done: asyncio.Event, jobs: Sequence[Job]) -> None:
    """Run each job as a task of one task group until `done` is set, then cancel them all and
    wait for them. A job's exception propagates (as the group's); so does a cancellation."""
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(job, name=name) for job, name in jobs]
        await done.wait()
        for task in tasks:
            task.cancel()

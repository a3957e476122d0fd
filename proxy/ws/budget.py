"""Memory budgets for unfinished messages: what a peer makes the proxy hold before it is whole.

A frame that has not fully arrived yet, and the fragments of a message that is not finished,
are held in memory until they are. A `Budget` counts those bytes; a session has one, and it
draws on the process's one (`parent`), so neither one session nor all of them together can
make the proxy hold more than configured (`limits.max_unfinished_bytes_per_session`,
`limits.max_unfinished_bytes`). A `proxy.ws.link.Link` reserves a frame's whole declared size
as soon as its header is in (before its payload is buffered) and gives it back when the
message is delivered or the link ends; a reservation that does not fit fails the link with
1013 ("try again later").

`MessageGuard` also keeps `limits.message_timeout`: a message must be whole within that many
seconds of its first byte (a peer that trickles a message cannot hold memory for the whole
idle timeout). Frames that arrive whole in one read are never counted or timed: the relay's
hot path pays nothing for either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Budget", "MessageGuard"]


class Budget:
    """A byte budget; `take` from it and `give` back what was taken."""

    __slots__ = ("limit", "parent", "used")

    def __init__(self, limit: int, parent: Budget | None = None) -> None:
        self.limit = limit  # may be lowered or raised at any time (a config reload)
        self.parent = parent
        self.used = 0

    def take(self, size: int) -> bool:
        """Reserve `size` bytes here and in every parent; False (nothing reserved) if any of
        them would go over its limit."""
        if self.used + size > self.limit:
            return False
        if self.parent is not None and not self.parent.take(size):
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        """Return `size` bytes taken earlier (here and in every parent)."""
        self.used -= size
        if self.parent is not None:
            self.parent.give(size)


class MessageGuard:
    """One link's hold on memory for its unfinished message, and that message's deadline.

    Args:
        budget: the session's `Budget` (None: nothing is counted).
        timeout: seconds a message may take from its first byte to its last (None: no limit).
        expired: called once the deadline has passed; returns True if it ended the link, False
            to look again one `timeout` later (the owner had paused the reads meanwhile).
    """

    __slots__ = ("_budget", "_expired", "_reserved", "_since", "_timeout", "_timer")

    def __init__(
        self, budget: Budget | None, timeout: float | None, expired: Callable[[], bool]
    ) -> None:
        self._budget = budget
        self._timeout = timeout
        self._expired = expired
        self._reserved = 0
        self._since: float | None = None  # when the unfinished message's first byte arrived
        self._timer: asyncio.TimerHandle | None = None

    def update(self, size: int) -> bool:
        """The unfinished message now needs `size` bytes (0: none is in progress). False if
        that does not fit in the budget (nothing more is reserved then)."""
        if not size:
            self._since = None
        elif self._since is None:
            loop = asyncio.get_running_loop()
            self._since = loop.time()
            if self._timeout and self._timer is None:
                self._timer = loop.call_at(self._since + self._timeout, self._deadline)
        budget, reserved = self._budget, self._reserved
        if budget is None or size == reserved:
            return True
        if size > reserved:
            if not budget.take(size - reserved):
                return False
        else:
            budget.give(reserved - size)
        self._reserved = size
        return True

    def close(self) -> None:
        """Give back everything reserved and stop the deadline (the link has ended)."""
        if self._budget is not None and self._reserved:
            self._budget.give(self._reserved)
        self._reserved = 0
        self._since = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deadline(self) -> None:
        self._timer = None
        since, timeout = self._since, self._timeout
        if since is None or not timeout:
            return  # finished in time: the next message arms a new timer
        loop = asyncio.get_running_loop()
        if loop.time() < since + timeout:  # a later message: its own deadline
            self._timer = loop.call_at(since + timeout, self._deadline)
        elif not self._expired():
            self._since = loop.time()
            self._timer = loop.call_at(self._since + timeout, self._deadline)

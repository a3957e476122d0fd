"""The bounded queue between the relay and a shadow session (`proxy.session.shadow`).

The relay calls `frame` or `message` for each client message it forwarded (a `relay.Tap`):
each appends the bytes it is given, adds their size and wakes the shadow's task; nothing is
parsed, copied or written there. Past `limit` queued bytes the queue calls `overflow` once,
drops what it holds and takes nothing more: a shadow that falls behind is dropped, never waited
for.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["ShadowQueue"]


class ShadowQueue:
    """Client messages on their way to a shadow, bounded by bytes (see the module docstring).

    Each item is (`as_received`, bytes): an audio append as the frame the client sent, or any
    other message's payload.
    """

    def __init__(self, limit: int, overflow: Callable[[], None]) -> None:
        self._items: deque[tuple[bool, bytes]] = deque()
        self._size = 0
        self._limit = limit
        self._overflow = overflow
        self._wake = asyncio.Event()
        self.closed = False

    def frame(self, raw: bytes) -> None:
        """An audio append, as the frame the client sent."""
        if not self.closed:
            self._items.append((True, raw))
            self._add(len(raw))

    def message(self, data: bytes) -> None:
        """Any other TEXT message from the client (its payload)."""
        if not self.closed:
            self._items.append((False, data))
            self._add(len(data))

    def _add(self, size: int) -> None:
        self._size += size
        if self._size > self._limit:
            self.close()
            self._overflow()
        else:
            self._wake.set()

    def close(self) -> None:
        """Take nothing more; wake the reader (`take` then returns [])."""
        self.closed = True
        self._items.clear()
        self._size = 0
        self._wake.set()

    async def take(self) -> list[tuple[bool, bytes]]:
        """Everything queued, in order, once there is something; [] once closed."""
        while not self._items and not self.closed:
            self._wake.clear()
            await self._wake.wait()
        if self.closed:
            return []
        items = list(self._items)
        self._items.clear()
        self._size = 0
        return items

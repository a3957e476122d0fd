"""The Live output pacer on a fake loop: frames leave at their times, in order, and a flush
drops the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from proxy.session.live_pacer import Pacer


class FakeLoop:
    """`time()` and `call_at()`, with time moved by hand (`advance` runs what came due)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Callable[[], None], Any]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Any:
        handle = Handle()
        self.timers.append((when, callback, handle))
        return handle

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while due := [t for t in self.timers if t[0] <= self.now and not t[2].cancelled]:
            self.timers.remove(due[0])
            due[0][1]()


class Handle:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def pacer(**options: Any) -> tuple[Pacer, FakeLoop, list[bytes]]:
    loop, sent = FakeLoop(), []

    def send(frame: bytes) -> bool:
        sent.append(frame)
        return True

    defaults: dict[str, Any] = {"max_bytes": 1 << 20, "on_full": lambda: None}
    made = Pacer(cast(asyncio.AbstractEventLoop, loop), send, **(defaults | options))
    return made, loop, sent


def test_frames_leave_at_their_times_in_order() -> None:
    p, loop, sent = pacer()
    p.push(b"now", 0.0)
    assert sent == [b"now"]  # due and nothing waiting: at once
    p.push(b"a", 0.1)
    p.push(b"b", 0.05)  # due earlier, but after `a` in order
    p.push(b"c", 0.3)
    assert (sent, p.held) == ([b"now"], 3)
    loop.advance(0.1)
    assert sent == [b"now", b"a", b"b"]
    loop.advance(0.19)
    assert sent == [b"now", b"a", b"b"]
    loop.advance(0.01)
    assert sent == [b"now", b"a", b"b", b"c"]
    assert p.held == 0
    assert loop.timers == []


def test_flush_drops_what_waits() -> None:
    p, loop, sent = pacer()
    for i in range(5):
        p.push(b"x%d" % i, 0.1 * (i + 1))
    loop.advance(0.25)
    assert p.flush() == 3
    loop.advance(10)
    assert sent == [b"x0", b"x1"]
    p.push(b"after", loop.now)  # the pacer goes on after a flush
    assert sent[-1] == b"after"


def test_too_much_held_ends_the_session() -> None:
    full: list[bool] = []
    p, loop, sent = pacer(max_bytes=10, on_full=lambda: full.append(True))
    p.push(b"12345", 1.0)
    p.push(b"123456", 1.0)
    assert full == [True]
    p.push(b"late", 0.0)
    loop.advance(5)
    assert sent == []  # stopped for good


def test_a_slow_client_stops_the_pacer() -> None:
    loop, sent = FakeLoop(), []
    p = Pacer(
        cast(asyncio.AbstractEventLoop, loop),
        lambda frame: sent.append(frame) or False,
        max_bytes=100,
        on_full=lambda: None,
    )
    p.push(b"a", 0.1)
    p.push(b"b", 0.1)
    loop.advance(1)
    assert sent == [b"a"]

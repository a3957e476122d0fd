"""Budgets and deadlines for unfinished messages (`proxy.ws.budget`), alone and in a `Link`."""

from __future__ import annotations

import asyncio
import socket

from proxy.ws.budget import Budget, MessageGuard
from proxy.ws.frames import TEXT, encode
from proxy.ws.link import Link, take_over

TIMEOUT = 5


def test_a_session_budget_draws_on_the_process_budget() -> None:
    process = Budget(100)
    one, two = Budget(80, parent=process), Budget(80, parent=process)
    assert one.take(60)
    assert not two.take(60)  # the process has 40 left
    assert (process.used, two.used) == (60, 0)  # a refusal reserves nothing anywhere
    assert not one.take(30)  # over its own 80
    one.give(60)
    assert two.take(60)
    assert (process.used, one.used, two.used) == (60, 0, 60)


def test_a_lowered_limit_refuses_new_reservations_only() -> None:
    budget = Budget(100)
    assert budget.take(90)
    budget.limit = 50
    assert not budget.take(1)
    budget.give(90)
    assert budget.take(50)


def never(_: object = None) -> bool:
    raise AssertionError("no deadline should pass")


async def test_the_guard_reserves_what_the_message_needs_and_gives_it_back() -> None:
    budget = Budget(1000)
    guard = MessageGuard(budget, None, never)
    assert guard.update(400)
    assert guard.update(700)  # the frame's header came in: its whole size
    assert budget.used == 700
    assert not guard.update(1200)
    assert budget.used == 700  # nothing more reserved after a refusal
    assert guard.update(0)
    assert budget.used == 0
    assert guard.update(300)
    guard.close()
    assert budget.used == 0


async def test_the_deadline_counts_from_the_first_byte() -> None:
    """One message in progress past `timeout`: `expired` is called once."""
    called = asyncio.Event()

    def expired() -> bool:
        called.set()
        return True

    loop = asyncio.get_running_loop()
    guard = MessageGuard(None, 0.05, expired)
    began = loop.time()
    guard.update(10)
    guard.update(20)  # more of the same message: the deadline does not move
    async with asyncio.timeout(TIMEOUT):
        await called.wait()
    assert loop.time() - began >= 0.05
    guard.close()


async def test_a_finished_message_disarms_and_the_next_gets_its_own_deadline() -> None:
    calls: list[float] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def expired() -> bool:
        calls.append(loop.time())
        done.set()
        return True

    guard = MessageGuard(None, 0.2, expired)
    guard.update(10)
    guard.update(0)  # finished in time
    await asyncio.sleep(0.1)  # a pause between two messages, not a synchronisation
    second = loop.time()
    guard.update(10)
    async with asyncio.timeout(TIMEOUT):
        await done.wait()
    assert len(calls) == 1
    assert calls[0] - second >= 0.2  # the second message's own deadline, not the first's
    guard.close()


async def test_while_the_owner_pauses_the_deadline_is_put_off() -> None:
    """`expired` answering False (reads paused): asked again one timeout later."""
    answers = [False, True]
    asked = asyncio.Event()
    count = 0

    def expired() -> bool:
        nonlocal count
        count += 1
        if count == len(answers):
            asked.set()
        return answers[count - 1]

    guard = MessageGuard(None, 0.05, expired)
    guard.update(10)
    async with asyncio.timeout(TIMEOUT):
        await asked.wait()
    assert count == 2
    guard.close()


async def test_a_link_returns_its_reservation_when_it_ends() -> None:
    """A link holding an unfinished 10 kB frame (its declared size reserved from the header
    on) gives it all back when the peer vanishes; a whole frame is never counted."""
    budget = Budget(1 << 20)
    mine, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=mine)
    link = Link(client_side=True, max_size=1 << 20, heartbeat=None)
    take_over(transport, link)
    ended: asyncio.Future[int] = loop.create_future()
    messages: list[bytes] = []
    link.attach(lambda p, _: messages.append(p), lambda _: None, lambda c, *_: ended.set_result(c))
    link.limit(budget, None)
    try:
        link.data_received(encode(TEXT, b"whole"))
        assert (messages, budget.used) == ([b"whole"], 0)
        frame = encode(TEXT, b"x" * 10_000)
        link.data_received(frame[:100])
        assert budget.used == len(frame)
        link.data_received(frame[100:])
        assert (len(messages), budget.used) == (2, 0)
        link.data_received(frame[:100])
        assert budget.used == len(frame)
        theirs.close()
        async with asyncio.timeout(TIMEOUT):
            assert await ended == 1006
        assert budget.used == 0
    finally:
        link.abort()
        link.release()
        theirs.close()

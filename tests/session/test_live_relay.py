"""The Live relay's edges against a scripted Inworld: lost upstream, refused handshake, limits,
and what a client that never starts a session gets. Events are checked against the SDK."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from proxy.config import Config
from tests.support.live import TIMEOUT, validated
from tests.support.stack import FakeUpstream, StartProxy, proxy_config

FakeStart = Callable[..., Awaitable[tuple[FakeUpstream, str]]]
START = {"type": "session.start", "session": {"model": "gpt-live-1.1"}}


async def live_session(
    start_proxy: StartProxy, cfg: Config, *messages: Any
) -> tuple[list[Any], int | None]:
    """Connect to /v1/live/sessions, send `messages` (a `str`: first wait for an event of that
    type), read until the close: (events, code)."""
    proxy = await start_proxy(cfg)
    events: list[Any] = []
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(proxy.make_url("/v1/live/sessions"))
        async with asyncio.timeout(TIMEOUT):
            for message in messages:
                if isinstance(message, bytes):
                    await ws.send_bytes(message)
                elif isinstance(message, str):  # wait for an event of this type first
                    while not events or events[-1].type != message:
                        events.append(validated((await ws.receive()).data))
                else:
                    await ws.send_str(orjson.dumps(message).decode())
            async for msg in ws:
                events.append(validated(msg.data))
        return events, ws.close_code


async def test_a_lost_upstream_closes_the_session_cleanly(
    start_proxy: StartProxy, fake_upstream: FakeStart
) -> None:
    """Inworld goes away after the start: session.closed (connection_lost), then close 1000 so
    the SDK does not reconnect to a session that cannot be resumed."""
    fake, url = await fake_upstream(close_after=(1011, "boom"))
    events, code = await live_session(start_proxy, proxy_config(url), START)
    assert [e.type for e in events] == [
        "session.started",
        "session.usage.updated",
        "session.closed",
    ]
    assert events[-1].reason == "connection_lost"
    assert code == 1000
    first = orjson.loads(fake.received[0])
    assert first["type"] == "session.update"
    assert first["session"]["model"] == "openai/gpt-5.5"


async def test_a_refused_handshake_is_a_live_error(
    start_proxy: StartProxy, fake_upstream: FakeStart
) -> None:
    _, url = await fake_upstream(status=401)
    events, code = await live_session(start_proxy, proxy_config(url), START)
    assert [e.error.code for e in events] == ["upstream_unauthorized"]
    assert code == 1008


async def test_no_session_start_in_time(start_proxy: StartProxy, fake_upstream: FakeStart) -> None:
    fake, url = await fake_upstream()
    cfg = proxy_config(url)
    cfg = dataclasses.replace(
        cfg, limits=dataclasses.replace(cfg.limits, session_start_timeout=0.2)
    )
    events, code = await live_session(start_proxy, cfg)
    assert [e.error.code for e in events] == ["session_start_timeout"]
    assert code == 1008
    assert fake.requests == []  # never dialled


async def test_binary_messages_are_refused_and_the_session_goes_on(
    start_proxy: StartProxy, fake_upstream: FakeStart
) -> None:
    _, url = await fake_upstream()
    events, code = await live_session(
        start_proxy,
        proxy_config(url),
        START,
        "session.started",
        b"\x00\x01",
        {"type": "session.close"},
    )
    kinds = [e.type for e in events]
    assert kinds == ["session.started", "error", "session.usage.updated", "session.closed"]
    assert [e.error.code for e in events if e.type == "error"] == ["invalid_event"]
    assert code == 1000


async def test_max_sessions_refuses_live_clients_too(
    start_proxy: StartProxy, fake_upstream: FakeStart
) -> None:
    _, url = await fake_upstream()
    cfg = proxy_config(url)
    cfg = dataclasses.replace(cfg, limits=dataclasses.replace(cfg.limits, max_sessions=0))
    events, code = await live_session(start_proxy, cfg, START)
    assert [e.error.code for e in events] == ["session_limit"]
    assert code == 1013


async def test_disabled_live_endpoint_is_not_found(start_proxy: StartProxy) -> None:
    cfg = proxy_config("ws://127.0.0.1:9/x")
    proxy = await start_proxy(
        dataclasses.replace(cfg, live=dataclasses.replace(cfg.live, enabled=False))
    )
    async with (
        aiohttp.ClientSession() as http,
        http.get(proxy.make_url("/v1/live/sessions")) as response,
    ):
        assert response.status == 404
    enabled = await start_proxy(cfg)
    async with aiohttp.ClientSession() as http:
        async with http.get(enabled.make_url("/v1/live/sessions")) as response:
            assert response.status == 426  # a plain GET: "speak WebSocket"
        async with http.post(enabled.make_url("/v1/live/sessions"), json={}) as response:
            assert response.status == 501
            assert (await response.json())["error"]["code"] == "unsupported_feature"

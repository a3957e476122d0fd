"""The proxy holds more concurrent sessions than aiohttp's default connection pool (100)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp
import orjson

from tests.support.stack import proxy_config

SESSIONS = 101  # one more than aiohttp's default TCPConnector limit


async def test_more_than_a_connection_pool_of_sessions_at_once(
    fake_upstream: Any, start_proxy: Any
) -> None:
    """101 simultaneous clients each get session.created (no upstream pool limit applies)."""
    fake, url = await fake_upstream()
    cfg = proxy_config(url)
    cfg = dataclasses.replace(cfg, upstream=dataclasses.replace(cfg.upstream, connect_timeout=3.0))
    proxy = await start_proxy(cfg)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        sockets = await asyncio.gather(
            *(http.ws_connect(proxy.make_url("/v1/realtime")) for _ in range(SESSIONS))
        )
        try:
            async with asyncio.timeout(10):
                firsts = await asyncio.gather(*(ws.receive() for ws in sockets))
            types = [orjson.loads(msg.data)["type"] for msg in firsts]
            assert types == ["session.created"] * SESSIONS
            assert len(fake.requests) == SESSIONS
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))

"""A plain aiohttp WebSocket client against a proxy under test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp.test_utils import TestServer

TIMEOUT = 5


@contextlib.asynccontextmanager
async def connect(
    proxy: TestServer, path: str = "/v1/realtime", **kwargs: Any
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A plain aiohttp WebSocket client connected to the proxy."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(proxy.make_url(path), **kwargs) as ws,
    ):
        yield ws


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    async with asyncio.timeout(TIMEOUT):
        msg = await ws.receive()
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return orjson.loads(msg.data)


async def receive_close(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    async with asyncio.timeout(TIMEOUT):
        msg = await ws.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE, msg
    return msg.data, msg.extra

"""OpenAI pass-through sessions live as long as traffic flows, and relay BINARY frames too.

Regression tests for a defect: the watchdog's start deadline looked at the Inworld translation
phase, which a pass-through session never advances, so every pass-through session was ended at
`limits.session_start_timeout`. Each test here holds a session well past every limit that could
cut it (the limits are lowered so the tests stay short).
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from proxy.config import Config, load
from tests.support.stack import KEY, SECRET

TIMEOUT = 10
ENV = {"INWORLD_API_KEY": KEY, "INWORLD_API_SECRET": SECRET, "OPENAI_API_KEY": "sk-openai-test"}
CREATED = '{"type":"session.created","event_id":"e1","session":{"model":"gpt-realtime"}}'
PASS = '[routing.routes."*"]\nvariants = [{ provider = "openai", name = "direct" }]\n'
FALLBACK = (
    '[routing.routes."*"]\nmodel = "openai/gpt-5.5"\n'
    'fallback = [{ provider = "openai", model = "gpt-realtime" }]\n'
)
# Start deadline and idle timeout far below the session's length (HOLD_FOR messages, one every
# PACE seconds: 1.6 s in all), so a session that survives proves neither limit cuts it.
START, IDLE, PACE, HOLD_FOR = 0.2, 0.5, 0.1, 16


@dataclasses.dataclass
class EchoOpenAI:
    """An OpenAI-like upstream: `session.created` unprompted (or nothing, when `silent`), then
    every message echoed back as received, TEXT and BINARY alike."""

    silent: bool = False
    binary: list[bytes] = dataclasses.field(default_factory=list)

    async def handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if not self.silent:
            await ws.send_str(CREATED)
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.BINARY:
                self.binary.append(msg.data)
                await ws.send_bytes(msg.data)
            elif not self.silent:
                await ws.send_str(msg.data)
        return ws


async def echo_openai(aiohttp_server: Any, **options: Any) -> tuple[EchoOpenAI, str]:
    fake = EchoOpenAI(**options)
    app = web.Application()
    app.router.add_get("/v1/realtime", fake.handler)
    server = await aiohttp_server(app)
    return fake, str(server.make_url("/v1/realtime")).replace("http", "ws", 1)


async def refusing_inworld(aiohttp_server: Any) -> str:
    """An Inworld endpoint that refuses every handshake with 503 (so the fallback serves)."""

    async def refuse(_: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "unavailable"}, status=503)

    app = web.Application()
    app.router.add_get("/api/v1/realtime/session", refuse)
    server = await aiohttp_server(app)
    return str(server.make_url("/api/v1/realtime/session")).replace("http", "ws", 1)


def short_limits(tmp_path: Path, toml: str, inworld: str, openai: str, **limits: Any) -> Config:
    path = tmp_path / "proxy.toml"
    path.write_text(toml)
    cfg = load(path, ENV)
    values = {"session_start_timeout": START, "idle_timeout": IDLE, **limits}
    return dataclasses.replace(
        cfg,
        upstream=dataclasses.replace(cfg.upstream, url=inworld),
        openai=dataclasses.replace(cfg.openai, url=openai),
        limits=dataclasses.replace(cfg.limits, **values),
    )


async def hold_with_traffic(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Receive `session.created`, then send HOLD_FOR events PACE apart, each echoed back
    unchanged, binary ones included; the session must still be open afterwards."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with asyncio.timeout(TIMEOUT):
        assert await ws.receive_str() == CREATED
        for n in range(HOLD_FOR):
            await asyncio.sleep(PACE)  # the pace of the conversation, not a synchronisation
            if n % 4 == 3:
                blob = bytes(range(256)) * 3 + n.to_bytes(2, "big")
                await ws.send_bytes(blob)
                assert await ws.receive_bytes() == blob
            else:
                text = f'{{"type":"conversation.item.create",  "n": {n}}}'
                await ws.send_str(text)
                assert await ws.receive_str() == text
    held = loop.time() - began
    assert held > START + IDLE * 2, held
    assert not ws.closed


async def test_passthrough_session_outlives_start_and_idle_timeouts(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """With traffic, a pass-through session stays open far past the start deadline and the
    idle timeout, and BINARY frames arrive byte-identical both ways."""
    inworld = await refusing_inworld(aiohttp_server)
    fake, url = await echo_openai(aiohttp_server)
    server = await start_proxy(short_limits(tmp_path, PASS, inworld, url))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(server.make_url("/v1/realtime?model=gpt-realtime")) as ws,
    ):
        await hold_with_traffic(ws)
    assert len(fake.binary) == HOLD_FOR // 4


async def test_passthrough_fallback_session_outlives_the_start_timeout(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """The same for an OpenAI fallback entry that serves after Inworld refused."""
    inworld = await refusing_inworld(aiohttp_server)
    fake, url = await echo_openai(aiohttp_server)
    server = await start_proxy(short_limits(tmp_path, FALLBACK, inworld, url))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(server.make_url("/v1/realtime?model=gpt-realtime")) as ws,
    ):
        await hold_with_traffic(ws)
    assert fake.binary


async def test_quiet_passthrough_session_ends_by_idle_timeout(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """With no traffic after `session.created`, the idle timeout ends it: `idle_timeout` error,
    then close 1000 (the documented code)."""
    inworld = await refusing_inworld(aiohttp_server)
    _, url = await echo_openai(aiohttp_server)
    server = await start_proxy(short_limits(tmp_path, PASS, inworld, url))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(server.make_url("/v1/realtime?model=gpt-realtime")) as ws,
    ):
        async with asyncio.timeout(TIMEOUT):
            assert await ws.receive_str() == CREATED
            error = orjson.loads(await ws.receive_str())
            closing = await ws.receive()
    assert error["error"]["code"] == "idle_timeout"
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1000


async def test_silent_openai_upstream_is_named_in_the_start_timeout(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """An OpenAI upstream that never says anything ends at the start deadline, and the error
    names OpenAI, not Inworld."""
    inworld = await refusing_inworld(aiohttp_server)
    _, url = await echo_openai(aiohttp_server, silent=True)
    server = await start_proxy(short_limits(tmp_path, PASS, inworld, url, idle_timeout=0))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(server.make_url("/v1/realtime?model=gpt-realtime")) as ws,
    ):
        async with asyncio.timeout(TIMEOUT):
            error = orjson.loads(await ws.receive_str())
            await ws.receive()
    assert error["error"]["code"] == "upstream_timeout"
    assert error["error"]["message"].startswith("OpenAI did not start the session")
    assert ws.close_code == 1011


async def test_inworld_route_still_drops_upstream_binary_and_refuses_client_binary(
    stack: Any,
) -> None:
    """Inworld routes keep OpenAI's rule: a client BINARY frame gets an `invalid_event` error."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(stack.proxy.make_url("/v1/realtime?model=gpt-realtime")) as ws,
    ):
        async with asyncio.timeout(TIMEOUT):
            assert orjson.loads(await ws.receive_str())["type"] == "session.created"
            await ws.send_bytes(b"\x00\x01")
            error = orjson.loads(await ws.receive_str())
    assert error["error"]["code"] == "invalid_event"

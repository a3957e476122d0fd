"""proxy.session.relay and proxy.web.realtime against scriptable fake upstreams on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import aiohttp
import orjson
import pytest

from proxy.web.appkeys import LIFECYCLE
from tests.support.sockets import connect, receive_close, receive_json
from tests.support.stack import CREDENTIAL, proxy_config

TIMEOUT = 5


@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (401, 1008, "invalid_request_error"),
        (403, 1008, "invalid_request_error"),
        (429, 1013, "rate_limit_exceeded"),
        (500, 1011, "server_error"),
    ],
)
async def test_upstream_refusal_becomes_error_then_close(
    fake_upstream: Any, start_proxy: Any, status: int, code: int, error_type: str
) -> None:
    """A refused upstream handshake: the client gets an error event, then the mapped close."""
    _, url = await fake_upstream(status=status)
    proxy = await start_proxy(proxy_config(url))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(proxy.make_url("/v1/realtime")) as ws,
    ):
        event = await receive_json(ws)
        assert event["type"] == "error"
        assert event["error"]["type"] == error_type
        assert (await receive_close(ws))[0] == code


async def test_unreachable_upstream_closes_1011(start_proxy: Any, unused_tcp_port: int) -> None:
    """Nothing listening upstream: error event, close 1011."""
    proxy = await start_proxy(proxy_config(f"ws://127.0.0.1:{unused_tcp_port}/x"))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(proxy.make_url("/v1/realtime")) as ws,
    ):
        assert (await receive_json(ws))["error"]["code"] == "upstream_unavailable"
        assert (await receive_close(ws))[0] == 1011


async def test_upstream_handshake_carries_only_configured_auth(
    fake_upstream: Any, start_proxy: Any
) -> None:
    """Basic auth from config, a fresh UUID4 key and protocol=realtime; client headers stay."""
    fake, url = await fake_upstream()
    proxy = await start_proxy(proxy_config(url))
    headers = {"Authorization": "Bearer sk-client-secret", "OpenAI-Beta": "realtime=v1"}
    for _ in range(2):
        async with connect(proxy, headers=headers) as ws:
            assert (await receive_json(ws))["type"] == "session.created"
    first, second = fake.requests
    for request in (first, second):
        assert request.headers["Authorization"] == f"Basic {CREDENTIAL}"
        assert "OpenAI-Beta" not in request.headers
        assert "sk-client-secret" not in str(dict(request.headers))
        assert request.query["protocol"] == "realtime"
        assert uuid.UUID(request.query["key"]).version == 4
    assert first.query["key"] != second.query["key"]


async def test_initial_update_goes_up_before_early_client_frames(
    fake_upstream: Any, start_proxy: Any
) -> None:
    """Frames a client sends before the upstream is open follow the proxy's own update."""
    fake, url = await fake_upstream()
    proxy = await start_proxy(proxy_config(url))
    async with connect(proxy, "/v1/realtime?model=gpt-realtime") as ws:
        await ws.send_str('{"type":"input_audio_buffer.append","audio":"AAAA"}')
        assert (await receive_json(ws))["type"] == "session.created"
        async with asyncio.timeout(TIMEOUT):
            while len(fake.received) < 2:
                fake.got_frame.clear()
                await fake.got_frame.wait()
    init, early = (orjson.loads(text) for text in fake.received[:2])
    assert init["type"] == "session.update"
    assert init["session"]["model"] == "openai/gpt-5.5"
    assert early["type"] == "input_audio_buffer.append"


async def test_upstream_close_code_and_reason_reach_client(
    fake_upstream: Any, start_proxy: Any
) -> None:
    """An upstream close is relayed with its code and reason."""
    _, url = await fake_upstream(close_after=(4001, "bye now"))
    proxy = await start_proxy(proxy_config(url))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(proxy.make_url("/v1/realtime")) as ws,
    ):
        assert (await receive_json(ws))["type"] == "session.created"
        assert await receive_close(ws) == (4001, "bye now")


async def test_client_close_code_reaches_upstream(fake_upstream: Any, start_proxy: Any) -> None:
    """A client close is relayed to Inworld with the client's code."""
    fake, url = await fake_upstream()
    proxy = await start_proxy(proxy_config(url))
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(proxy.make_url("/v1/realtime"))
        assert (await receive_json(ws))["type"] == "session.created"
        await ws.close(code=4002, message=b"done")
        async with asyncio.timeout(TIMEOUT):
            await fake.closed.wait()
    assert fake.closes == [4002]


async def test_no_task_left_behind(fake_upstream: Any, start_proxy: Any) -> None:
    """When the upstream sees the close, the session's tasks have already finished."""
    fake, url = await fake_upstream()
    proxy = await start_proxy(proxy_config(url))
    async with connect(proxy) as ws:
        assert (await receive_json(ws))["type"] == "session.created"
        assert "session-watchdog" in {t.get_name() for t in asyncio.all_tasks()}
    async with asyncio.timeout(TIMEOUT):
        await fake.closed.wait()  # sockets close only after the tasks are awaited
    assert not {"upstream-open", "session-watchdog"} & {t.get_name() for t in asyncio.all_tasks()}


async def test_plain_get_gets_json_error(fake_upstream: Any, start_proxy: Any) -> None:
    """A plain HTTP GET on the WebSocket endpoint is a JSON error, not a stack trace."""
    _, url = await fake_upstream()
    proxy = await start_proxy(proxy_config(url))
    async with aiohttp.ClientSession() as http:
        for path in ("/v1/realtime", "/realtime"):
            async with http.get(proxy.make_url(path)) as response:
                assert response.status == 426
                body = await response.json()
                assert body["error"]["code"] == "websocket_required"


async def test_subprotocol_realtime_is_selected(fake_upstream: Any, start_proxy: Any) -> None:
    """Offered `realtime` is answered; a key sub-protocol is never echoed."""
    _, url = await fake_upstream()
    proxy = await start_proxy(proxy_config(url))
    protocols = ("realtime", "openai-insecure-api-key.sk-browser-key")
    async with connect(proxy, "/realtime", protocols=protocols) as ws:
        assert ws.protocol == "realtime"
        assert (await receive_json(ws))["type"] == "session.created"


async def test_health_and_readiness(fake_upstream: Any, start_proxy: Any) -> None:
    """/healthz is alive; /readyz is 200 while serving and 503 while draining."""
    _, url = await fake_upstream()
    proxy = await start_proxy(proxy_config(url))
    async with aiohttp.ClientSession() as http:
        async with http.get(proxy.make_url("/healthz")) as response:
            assert response.status == 200
        async with http.get(proxy.make_url("/readyz")) as response:
            assert response.status == 200
        proxy.app[LIFECYCLE].draining = True
        async with http.get(proxy.make_url("/readyz")) as response:
            assert response.status == 503


async def test_demo_page_switch(fake_upstream: Any, start_proxy: Any) -> None:
    """GET / serves the demo page, unless server.demo_page is off."""
    _, url = await fake_upstream()
    cfg = proxy_config(url)
    on = await start_proxy(cfg)
    off = await start_proxy(
        dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, demo_page=False))
    )
    async with aiohttp.ClientSession() as http:
        async with http.get(on.make_url("/")) as response:
            assert response.status == 200
            assert "/v1/realtime/client_secrets" in await response.text()
        async with http.get(off.make_url("/")) as response:
            assert response.status == 404


async def test_permessage_deflate_is_declined(fake_upstream: Any, start_proxy: Any) -> None:
    """A client offering permessage-deflate gets plain frames (the relay forwards raw frames)."""
    _, url = await fake_upstream()
    proxy = await start_proxy(proxy_config(url))
    async with connect(proxy, compress=15) as ws:
        assert (await receive_json(ws))["type"] == "session.created"
        assert ws.compress == 0

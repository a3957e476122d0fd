"""Client keys, Origin checks, ephemeral tokens and TLS, through real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI
from prometheus_client import CollectorRegistry

from proxy.config import ClientsConfig
from proxy.emulator import EMULATOR_PATH, EMULATOR_SESSIONS, EmulatorSettings, create_emulator_app
from proxy.web.app import create_app
from proxy.web.appkeys import CONFIG
from proxy.web.tokens import mint
from tests.support.stack import KEY, SECRET, proxy_config

TIMEOUT = 10
CLIENT_KEY = "ck-test-key-1"


@dataclasses.dataclass
class Keyed:
    emulator: TestServer
    proxy: TestServer

    def url(self, path: str) -> str:
        return str(self.proxy.make_url(path))

    def ws(self, path: str = "/v1/realtime?model=gpt-realtime") -> str:
        return self.url(path).replace("http", "ws", 1)


@pytest.fixture
async def keyed(aiohttp_server: Any, start_proxy: Any) -> Keyed:
    """Emulator + proxy that requires CLIENT_KEY and allows one extra origin."""
    settings = EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0)
    emulator = await aiohttp_server(create_emulator_app(settings))
    cfg = proxy_config(str(emulator.make_url(EMULATOR_PATH)).replace("http", "ws", 1))
    clients = ClientsConfig(api_keys=(CLIENT_KEY,), allowed_origins=("https://app.example",))
    proxy = await start_proxy(dataclasses.replace(cfg, clients=clients))
    return Keyed(emulator=emulator, proxy=proxy)


async def first_event(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        event: dict[str, Any] = await ws.receive_json()
    return event


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"api-key": "wrong"}],
)
async def test_missing_or_wrong_key_is_401_before_upgrade(
    keyed: Keyed, headers: dict[str, str]
) -> None:
    """No valid key: HTTP 401 JSON, no upgrade, no upstream session."""
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(keyed.ws(), headers=headers)
        assert info.value.status == 401
        async with http.get(keyed.url("/v1/realtime"), headers=headers) as response:
            assert response.status == 401
            body = await response.json()
    assert body["error"]["code"] == "invalid_api_key"
    assert "wrong" not in str(body)
    assert keyed.emulator.app[EMULATOR_SESSIONS] == {}


@pytest.mark.parametrize(
    ("headers", "protocols"),
    [
        ({"Authorization": f"Bearer {CLIENT_KEY}"}, ()),
        ({"api-key": CLIENT_KEY}, ()),
        ({}, ("realtime", f"openai-insecure-api-key.{CLIENT_KEY}")),
    ],
)
async def test_valid_key_in_each_place(
    keyed: Keyed, headers: dict[str, str], protocols: tuple[str, ...]
) -> None:
    """A valid key as Bearer, api-key or browser sub-protocol opens the session."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(keyed.ws(), headers=headers, protocols=protocols) as ws,
    ):
        assert (await first_event(ws))["type"] == "session.created"
        if protocols:
            assert ws.protocol == "realtime"


async def test_foreign_origin_is_403(keyed: Keyed) -> None:
    """A browser page from an unlisted origin is refused; listed and loopback pass."""
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(keyed.ws(), headers={**headers, "Origin": "https://evil.example"})
        assert info.value.status == 403
        for origin in ("https://app.example", "http://localhost:3000"):
            async with http.ws_connect(keyed.ws(), headers={**headers, "Origin": origin}) as ws:
                assert (await first_event(ws))["type"] == "session.created"


async def test_ga_client_secret_flow(keyed: Keyed) -> None:
    """Mint a GA token with a key; a browser-style client connects with it; its session applies."""
    async with aiohttp.ClientSession() as http:
        body = {
            "expires_after": {"anchor": "created_at", "seconds": 120},
            "session": {
                "type": "realtime",
                "model": "gpt-realtime",
                "instructions": "Token instructions.",
                "audio": {"output": {"voice": "coral"}},
            },
        }
        async with http.post(keyed.url("/v1/realtime/client_secrets"), json=body) as response:
            assert response.status == 401  # minting needs a real key
        headers = {"Authorization": f"Bearer {CLIENT_KEY}", "Origin": "https://app.example"}
        async with http.post(
            keyed.url("/v1/realtime/client_secrets"), json=body, headers=headers
        ) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
            minted = await response.json()
        token = minted["value"]
        assert token.startswith("ek_")
        assert minted["session"]["instructions"] == "Token instructions."
        protocols = ("realtime", f"openai-insecure-api-key.{token}")
        async with http.ws_connect(keyed.ws("/v1/realtime"), protocols=protocols) as ws:
            created = await first_event(ws)
    assert created["type"] == "session.created"
    assert created["session"]["audio"]["output"]["voice"] == "coral"
    [record] = keyed.emulator.app[EMULATOR_SESSIONS].values()
    assert record.session_config["instructions"] == "Token instructions."
    assert record.session_config["audio"]["output"]["voice"] == "Olivia"
    assert record.session_config["model"] == "openai/gpt-5.5"


async def test_beta_sessions_flow_and_bad_requests(keyed: Keyed) -> None:
    """The beta endpoint mints a 60 s token; bad TTLs and bodies are 400s."""
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            keyed.url("/v1/realtime/sessions"), json={"voice": "echo"}, headers=headers
        ) as response:
            beta = await response.json()
        assert beta["voice"] == "echo"
        assert beta["client_secret"]["value"].startswith("ek_")
        for body in ({"expires_after": {"seconds": 5}}, {"expires_after": {"seconds": 10**6}}):
            async with http.post(
                keyed.url("/v1/realtime/client_secrets"), json=body, headers=headers
            ) as response:
                assert response.status == 400
        async with http.post(
            keyed.url("/v1/realtime/client_secrets"), data=b"{nope", headers=headers
        ) as response:
            assert response.status == 400
        async with http.options(
            keyed.url("/v1/realtime/client_secrets"),
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        ) as response:
            assert response.status == 204
            assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
        ws_headers = {"Authorization": f"Bearer {beta['client_secret']['value']}"}
        async with http.ws_connect(keyed.ws(), headers=ws_headers) as ws:
            assert (await first_event(ws))["session"]["audio"]["output"]["voice"] == "echo"


async def test_forged_token_is_refused(keyed: Keyed) -> None:
    """A token signed with another secret is a 401."""
    forged, _ = mint(b"not-the-secret", None, ttl=60, now=0)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(keyed.ws(), headers={"Authorization": f"Bearer {forged}"})
    assert info.value.status == 401


async def test_unmatched_subprotocols_never_logged(
    stack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A client offering only a key sub-protocol connects and nothing logs the key."""
    caplog.set_level(logging.DEBUG)
    url = str(stack.proxy.make_url("/v1/realtime")).replace("http", "ws", 1)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, protocols=("openai-insecure-api-key.sk-leak-me",)) as ws,
    ):
        assert (await first_event(ws))["type"] == "session.created"
        assert ws.protocol is None
    assert "sk-leak-me" not in caplog.text


async def test_tls_listener_with_sdk(stack: Any, self_signed: tuple[Path, Path]) -> None:
    """Served over TLS, the SDK connects with wss:// (certificate verified) to the proxy."""
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = create_app(
        stack.proxy.app[CONFIG], registry=CollectorRegistry(), logger=structlog.get_logger("t")
    )
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    port = runner.addresses[0][1]
    try:
        client = AsyncOpenAI(api_key="sk-local", websocket_base_url=f"wss://localhost:{port}/v1")
        options = {"ssl": ssl.create_default_context(cafile=str(cert))}
        async with asyncio.timeout(TIMEOUT):
            async with client.realtime.connect(
                model="gpt-realtime", websocket_connection_options=options
            ) as conn:
                event = await conn.recv()
        assert event.type == "session.created"
    finally:
        await runner.cleanup()

"""Client keys, Origin checks, ephemeral tokens and TLS, through real sockets."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
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


# -- issue 18: Host, malformed credentials, CORS Vary, demo page headers -------------------------


async def _raw_status(port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        async with asyncio.timeout(TIMEOUT):
            return int((await reader.readuntil(b"\r\n")).split()[1])
    finally:
        writer.close()


async def test_host_must_be_loopback_an_address_or_allowed_without_keys(
    stack: Any, start_proxy: Any
) -> None:
    """No client keys: a Host that names neither a loopback host, an IP address, the listen
    address nor a server.allowed_hosts entry is 421 on every path (DNS rebinding)."""
    port = stack.proxy.port
    async with aiohttp.ClientSession() as http:
        for path in ("/v1/models", "/metrics", "/healthz"):
            async with http.get(stack.proxy.make_url(path), headers={"Host": "evil.example"}) as r:
                assert r.status == 421
                if path != "/metrics":
                    assert (await r.json())["error"]["code"] == "host_not_allowed"
        for host in (f"localhost:{port}", "127.0.0.1", f"[::1]:{port}", "10.1.2.3:8080"):
            async with http.get(stack.proxy.make_url("/healthz"), headers={"Host": host}) as r:
                assert r.status == 200, host
    cfg = stack.proxy.app[CONFIG]
    server = dataclasses.replace(cfg.server, allowed_hosts=("proxy.internal",))
    named = await start_proxy(dataclasses.replace(cfg, server=server))
    async with aiohttp.ClientSession() as http:
        for host, status in (("Proxy.Internal:80", 200), ("other.internal", 421)):
            async with http.get(named.make_url("/healthz"), headers={"Host": host}) as r:
                assert r.status == status, host


async def test_host_is_not_checked_when_keys_are_set(keyed: Keyed) -> None:
    """With client keys the key is what protects the proxy: any Host passes the guard."""
    headers = {"Host": "evil.example", "Authorization": f"Bearer {CLIENT_KEY}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(keyed.url("/healthz"), headers=headers) as r,
    ):
        assert r.status == 200


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer ek_p1_abc.\xc3\xa9",
        b"api-key: k1\xff",
        b"Authorization: Bearer two words",
        b"Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.k\xc3\xa9y",
    ],
)
async def test_malformed_credentials_are_401_even_without_keys(stack: Any, header: bytes) -> None:
    """A credential with a character outside visible ASCII is 401, keys set or not."""
    port = stack.proxy.port
    request = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\n\r\n"
    assert await _raw_status(port, request) == 401


async def test_bad_origin_is_403_not_500(keyed: Keyed) -> None:
    """An Origin that does not parse is refused like any foreign origin."""
    request = (
        "GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://[zz\r\n"
        f"Authorization: Bearer {CLIENT_KEY}\r\n\r\n"
    ).encode()
    assert await _raw_status(keyed.proxy.port, request) == 403


async def test_cors_answers_vary_on_origin(keyed: Keyed) -> None:
    """Every answer of a CORS endpoint carries Vary: Origin (with or without an Origin, refused
    or not); a refusal for an allowed origin is readable by the page (CORS headers)."""
    url = keyed.url("/v1/realtime/client_secrets")
    body = {"session": {"model": "gpt-realtime"}}
    key = {"Authorization": f"Bearer {CLIENT_KEY}"}
    origin = {"Origin": "https://app.example"}
    async with aiohttp.ClientSession() as http:
        for headers, status in (
            (key, 200),
            ({**key, **origin}, 200),
            (origin, 401),
            ({**key, "Origin": "https://evil.example"}, 403),
        ):
            async with http.post(url, json=body, headers=headers) as r:
                assert r.status == status
                assert r.headers["Vary"] == "Origin"
                if headers.get("Origin") == "https://app.example":
                    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
                else:
                    assert "Access-Control-Allow-Origin" not in r.headers
        async with http.options(
            url, headers={**origin, "Access-Control-Request-Method": "POST"}
        ) as r:
            assert r.status == 204
            assert r.headers["Vary"] == "Origin"


async def test_demo_page_sends_csp_frame_and_sniff_headers(stack: Any) -> None:
    """The demo page: a CSP allowing exactly its inline script and style (by hash) and
    connections to itself; no framing; no MIME sniffing."""
    async with aiohttp.ClientSession() as http, http.get(stack.proxy.make_url("/")) as r:
        page = await r.text()
        headers = r.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(
        part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"
    assert "unsafe-inline" not in headers["Content-Security-Policy"]

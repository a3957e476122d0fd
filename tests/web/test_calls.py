"""WebRTC signalling (proxy.web.calls): the request forms, bad input, keys, tokens, CORS, 501.

Answers are checked as a browser or SDK reads them: status, OpenAI-shaped JSON errors with the
CORS headers, `201` with `application/sdp` and a `Location` whose last segment is `rtc_...`.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.web.calls import CALLS
from proxy.webrtc.sdp import CALL_ID
from tests.support.stack import Stack, StartProxy, proxy_config
from tests.support.webrtc import client_peer, loopback_config, offer, rtc_call

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("sk-calls-test",)
PAGE = "http://localhost:5173"


async def browser_offer() -> str:
    """A real offer (data channel + microphone), candidates stripped as a browser posts it."""
    pc = client_peer()
    try:
        return await offer(pc)
    finally:
        await pc.close()


def without(sdp: str, *, section: str | None = None, line: str | None = None) -> str:
    """`sdp` with a media section (by its `m=` start) or every line starting `line` removed."""
    if section is not None:
        parts = sdp.split("m=")
        sdp = "m=".join(p for p in parts if not p.startswith(section))
    if line is not None:
        sdp = "".join(x for x in sdp.splitlines(keepends=True) if not x.startswith(line))
    return sdp


async def post(url: Any, body: bytes | aiohttp.FormData, **headers: str) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        data = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, data, r.headers


@pytest.fixture
async def proxy(stack: Stack, start_proxy: StartProxy) -> Any:
    url = str(stack.emulator.make_url("/api/v1/realtime/session")).replace("http", "ws", 1)
    return await start_proxy(loopback_config(proxy_config(url)))


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda sdp: "hello", "not an SDP offer"),
        (lambda sdp: without(sdp, section="audio"), "no audio m-line"),
        (lambda sdp: sdp.replace("opus/48000/2", "speex/48000"), "does not offer Opus"),
        (lambda sdp: without(sdp, section="application"), "no data channel"),
        (lambda sdp: without(sdp, line="a=fingerprint"), "DTLS fingerprint"),
        (lambda sdp: sdp + "a=x\r\n" * 20000, "larger than"),
    ],
)
async def test_bad_offers_are_400_json(proxy: Any, mangle: Any, message: str) -> None:
    """Each unusable offer: 400, code invalid_offer, a message naming what is wrong, CORS."""
    sdp = mangle(await browser_offer())
    status, body, headers = await post(
        proxy.make_url("/v1/realtime/calls"),
        sdp.encode(),
        **{"Content-Type": "application/sdp", "Origin": PAGE},
    )
    assert status == 400
    assert body["error"]["code"] == "invalid_offer"
    assert message in body["error"]["message"]
    assert headers["Access-Control-Allow-Origin"] == PAGE
    assert not proxy.app[CALLS].calls


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        ("text/plain", b"v=0", "unsupported_content_type"),
        ("application/json", b"{", "invalid_json"),
        ("application/json", b'{"session": {}}', "invalid_offer"),
        ("multipart/form-data; boundary=b", b"--b\r\n\r\nx\r\n--b--\r\n", "invalid_offer"),
    ],
)
async def test_bad_request_forms(proxy: Any, content_type: str, body: bytes, code: str) -> None:
    status, data, _ = await post(
        proxy.make_url("/v1/realtime/calls"), body, **{"Content-Type": content_type}
    )
    assert (status, data["error"]["code"]) == (400, code)


async def test_multipart_with_a_bad_session_part(proxy: Any) -> None:
    form = aiohttp.FormData()
    form.add_field("sdp", await browser_offer(), content_type="application/sdp")
    form.add_field("session", "[1, 2]")
    status, data, _ = await post(proxy.make_url("/v1/realtime/calls"), form)
    assert (status, data["error"]["code"]) == (400, "invalid_session")


async def test_keys_tokens_and_cors(stack: Stack, start_proxy: StartProxy) -> None:
    """With client keys set: no key is 401; a minted token opens a call and its session
    applies; a browser preflight is answered with the SDK's own header allowed."""
    url = str(stack.emulator.make_url("/api/v1/realtime/session")).replace("http", "ws", 1)
    cfg = loopback_config(proxy_config(url))
    cfg = dataclasses.replace(cfg, clients=dataclasses.replace(cfg.clients, api_keys=KEYS))
    proxy = await start_proxy(cfg)
    calls = proxy.make_url("/v1/realtime/calls")
    sdp = (await browser_offer()).encode()
    status, body, _ = await post(calls, sdp, **{"Content-Type": "application/sdp"})
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")

    async with aiohttp.ClientSession() as http:
        async with http.options(calls, headers={
            "Origin": PAGE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-openai-agents-sdk",
        }) as preflight:  # fmt: skip
            assert preflight.status == 204
            allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
            assert "x-openai-agents-sdk" in allowed
            assert preflight.headers["Access-Control-Allow-Origin"] == PAGE
        secret = {"session": {"type": "realtime", "audio": {"output": {"voice": "coral"}}}}
        async with http.post(
            proxy.make_url("/v1/realtime/client_secrets"),
            json=secret,
            headers={"Authorization": f"Bearer {KEYS[0]}"},
        ) as minted:
            token = (await minted.json())["value"]
    headers = {"Authorization": f"Bearer {token}", "Origin": PAGE}
    async with rtc_call(calls, headers=headers) as client:
        created = (await client.until("session.created"))[-1]
        assert created["session"]["audio"]["output"]["voice"] == "coral"
        assert client.location is not None
        assert CALL_ID.match(client.location.rsplit("/", 1)[-1])
        # the token holds one session at a time (tokens.max_sessions = 1), calls included
        status, body, _ = await post(calls, sdp, **{"Content-Type": "application/sdp", **headers})
        assert (status, body["error"]["code"]) == (429, "token_session_limit")
        # and its model is pinned for the call, as on the WebSocket path
        client.send(type="session.update", session={"type": "realtime", "model": "x-y"})
        error = (await client.until("error"))[-1]
        assert (error["error"]["code"], error["error"]["param"]) == (
            "locked_field",
            "session.model",
        )


async def test_a_token_cannot_replace_its_session_with_a_multipart_part(
    stack: Stack, start_proxy: StartProxy
) -> None:
    """A token's minted session wins over a `session` part a token holder posts."""
    url = str(stack.emulator.make_url("/api/v1/realtime/session")).replace("http", "ws", 1)
    cfg = loopback_config(proxy_config(url))
    cfg = dataclasses.replace(cfg, clients=dataclasses.replace(cfg.clients, api_keys=KEYS))
    proxy = await start_proxy(cfg)
    secret = {"session": {"type": "realtime", "audio": {"output": {"voice": "coral"}}}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            proxy.make_url("/v1/realtime/client_secrets"),
            json=secret,
            headers={"Authorization": f"Bearer {KEYS[0]}"},
        ) as minted,
    ):
        token = (await minted.json())["value"]
    own = {"type": "realtime", "audio": {"output": {"voice": "ash"}}}
    async with rtc_call(
        proxy.make_url("/v1/realtime/calls"),
        headers={"Authorization": f"Bearer {token}"},
        session=own,
    ) as client:
        created = (await client.until("session.created"))[-1]
    assert created["session"]["audio"]["output"]["voice"] == "coral"


async def test_beta_form_and_location(proxy: Any) -> None:
    """`POST /v1/realtime?model=` (beta): 201 with an SDP answer; the client's events come in
    the beta dialect."""
    async with rtc_call(proxy.make_url("/v1/realtime?model=gpt-4o-realtime-preview")) as client:
        created = (await client.until("session.created"))[-1]
        assert created["session"]["model"] == "gpt-4o-realtime-preview"
        assert "voice" in created["session"]
        assert "audio" not in created["session"]


async def test_draining_refuses_new_calls(proxy: Any) -> None:
    from proxy.web.appkeys import LIFECYCLE

    proxy.app[LIFECYCLE].draining = True
    status, body, _ = await post(
        proxy.make_url("/v1/realtime/calls"),
        (await browser_offer()).encode(),
        **{"Content-Type": "application/sdp"},
    )
    assert (status, body["error"]["code"]) == (503, "proxy_draining")


def test_without_the_extra_calls_answer_501() -> None:
    """No aiortc: `/v1/realtime/calls` answers 501 JSON naming the extra (the WebSocket proxy
    itself starts and serves as before)."""
    script = """
import asyncio, sys
sys.modules["aiortc"] = None  # as if the `webrtc` extra were not installed
import structlog
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from proxy.web.app import create_app
from tests.support.stack import proxy_config

async def main():
    app = create_app(proxy_config("ws://127.0.0.1:9/x"), registry=CollectorRegistry(),
                     logger=structlog.get_logger())
    async with TestClient(TestServer(app)) as client:
        r = await client.post("/v1/realtime/calls", data=b"v=0",
                              headers={"Content-Type": "application/sdp"})
        print(r.status, (await r.json())["error"]["message"])
        r = await client.get("/healthz")
        print(r.status)

asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    ).stdout.splitlines()
    assert out[0].startswith("501 ")
    assert "'webrtc' extra" in out[0]
    assert out[1] == "200"

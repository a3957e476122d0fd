"""Hostile clients (issue 18): nobody without a key takes the proxy down, a token opens one
realtime session and nothing else, no key reaches a log, bad input is never a 500.

Real sockets throughout, all on 127.0.0.1. Scenarios that need the process's own limits run
the proxy as a real process (`python -m proxy serve --emulator`, `ulimit -n 256` set in the
child, both event loops); the others run it in-process in front of the emulator. Each test
states the figure it holds. Memory and descriptor figures are measured by `bench/hostile.py`
(`python -m bench.hostile`), which provides the attack primitives used here.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import struct
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from bench.hostile import (
    big_headers,
    closed_within,
    half_open,
    proxy_process,
    spoken_turn,
)
from proxy.config import ClientsConfig, TokensConfig
from proxy.emulator import EMULATOR_PATH, EMULATOR_SESSIONS, EmulatorSettings, create_emulator_app
from tests.support.scripted import EndedSessions
from tests.support.stack import KEY, SECRET, proxy_config

LOOPS = ("uvloop", "asyncio")
CLIENT_KEY = "k1secretkey-hostile-0123"  # long enough for the redactor to know it
KEYED = {"Authorization": f"Bearer {CLIENT_KEY}"}
HEADER_TIMEOUT = 10.0  # the default limits.header_timeout
REFUSED = "inworld_proxy_connections_refused_total"
TIMEOUT = 10


def _env(loop: str, **more: str) -> dict[str, str]:
    return {"PROXY_UVLOOP": "1" if loop == "uvloop" else "0", **more}


# -- before authentication (real process, ulimit -n 256) ---------------------------------------


@pytest.mark.parametrize("loop", LOOPS)
async def test_half_open_flood_leaves_keyed_clients_served(loop: str) -> None:
    """300 half-open connections without a key, `ulimit -n 256`: a keyed client completes a
    spoken turn within 10 s, every half-open connection is closed within the header deadline
    (10 s), each one is counted, and the log holds fewer than 100 lines meanwhile."""
    async with proxy_process(env=_env(loop, PROXY_API_KEYS=CLIENT_KEY)) as proxy:
        assert proxy.event_loop == loop
        since = len(proxy.lines)
        conns = await half_open(proxy.port, 300)
        assert await spoken_turn(proxy.url, KEYED) < 10
        assert await closed_within(conns, HEADER_TIMEOUT + 5) == 300
        latest = max(conn.closed - conn.opened for conn in conns if conn.closed is not None)
        assert latest <= HEADER_TIMEOUT + 1
        reasons = ("header_timeout", "pending_per_address", "pending_total", "out_of_descriptors")
        counted = [await proxy.metric(REFUSED, reason=reason) for reason in reasons]
        assert sum(counted) == 300
        assert counted[0] >= 1  # the youngest ones waited for the deadline
        lines = proxy.records(since)
    assert len(lines) < 100
    assert not [line for line in lines if line.get("level") in ("error", "critical")]


async def test_raised_caps_still_leave_descriptors_for_sessions(tmp_path: Path) -> None:
    """Caps raised past the descriptor limit: the proxy keeps connections nobody authenticated
    under half of `ulimit -n` (256 -> 128), so 300 half-open ones never exhaust descriptors and
    a keyed turn still completes within 10 s."""
    config = "[limits]\nmax_pending_connections = 100000\nmax_pending_per_address = 100000\n"
    env = _env("asyncio", PROXY_API_KEYS=CLIENT_KEY)
    async with proxy_process(env=env, config=config, tmp=tmp_path) as proxy:
        since = len(proxy.lines)
        conns = await half_open(proxy.port, 300)
        assert await spoken_turn(proxy.url, KEYED) < 10
        assert await proxy.metric(REFUSED, reason="pending_total") >= 300 - 128
        assert await proxy.metric(REFUSED, reason="accept_failed") == 0
        for conn in conns:
            conn.writer.close()
        events = {line.get("event") for line in proxy.records(since)}
    assert "accept_failing" not in events


@pytest.mark.parametrize("loop", LOOPS)
async def test_descriptor_exhaustion_backs_off_with_one_line(loop: str, tmp_path: Path) -> None:
    """Descriptors exhausted by authenticated keep-alive connections (no keys set, `ulimit -n
    256`: 230 served connections kept alive, then 70 more at once): accept() backs off instead
    of spinning, the log gets at most one `accept_failing` line per 10 s (with the count), and
    every connection is served once the idle ones time out (keepalive_timeout 3 s)."""
    config = "[limits]\nkeepalive_timeout = 3.0\n"
    request = b"GET /no-such-page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    async def answered(reader: asyncio.StreamReader) -> bytes:
        async with asyncio.timeout(15):  # the idle ones leave after 3 s, then the backlog drains
            return await reader.readuntil(b"\r\n\r\n")

    async with proxy_process(env=_env(loop), config=config, tmp=tmp_path) as proxy:
        since = len(proxy.lines)
        conns = []
        for _ in range(230):  # one after the other: each is authenticated, then idles
            [conn] = await half_open(proxy.port, 1, request=request)
            assert (await answered(conn.reader)).startswith(b"HTTP/1.1 404")
            conns.append(conn)
        late = await half_open(proxy.port, 70, request=request)
        heads = await asyncio.gather(*(answered(conn.reader) for conn in late))
        assert all(head.startswith(b"HTTP/1.1 404") for head in heads)
        assert await proxy.metric(REFUSED, reason="accept_failed") >= 1
        for conn in (*conns, *late):
            conn.writer.close()
        lines = proxy.records(since)
    failing = [line for line in lines if line.get("event") == "accept_failing"]
    assert 1 <= len(failing) <= 2
    assert failing[0]["failures"] >= 1
    assert not any("out of system resource" in str(line) for line in lines)


async def test_headers_over_the_budget_are_cut() -> None:
    """Connections sending 120 headers of 8 KiB each are answered 431 and closed once they
    pass `limits.max_header_bytes` (32 KiB), before aiohttp's parser holds them; a keyed
    client is served meanwhile."""
    async with proxy_process(env=_env("uvloop", PROXY_API_KEYS=CLIENT_KEY)) as proxy:
        conns = await big_headers(proxy.port, 20)
        assert await closed_within(conns, 5) == 20
        assert await proxy.metric(REFUSED, reason="header_too_large") == 20
        assert await spoken_turn(proxy.url, KEYED) < 10


# -- malformed requests: no key in any log line, never a 500 (real process, DEBUG) ---------------


def _deep(depth: int) -> bytes:
    return b'{"session":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


MALFORMED = [
    f"GET /v1/realtime HTTP/1.1\r\nHost: x\r\napi-key: {CLIENT_KEY}\x01\r\n\r\n".encode(),
    f"GET /v1/realtime HTTP/1.1\r\nHost: x\r\napi-key: a\r\n {CLIENT_KEY}\r\n\r\n".encode(),
    f"GET /v1/realtime HTTP/1.1\r\nHost: x\r\napi key: {CLIENT_KEY}\r\n\r\n".encode(),
    f"GET /v1/realtime?api-key={CLIENT_KEY} HTTP/1.1 x\r\nHost: x\r\n\r\n".encode(),
    f"GET /v1/models HTTP/1.1\r\nHost: x\r\napi-key: {CLIENT_KEY}{'A' * 9000}\r\n\r\n".encode(),
    b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ek_p1_abc.\xc3\xa9\r\n\r\n",
    b"GET /v1/models HTTP/1.1\r\nHost: x\r\napi-key: k1\xff\r\n\r\n",
    (
        f"GET /v1/models HTTP/1.1\r\nHost: x\r\nOrigin: http://[zz\r\napi-key: {CLIENT_KEY}\r\n\r\n"
    ).encode(),
]


def _post(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        async with asyncio.timeout(TIMEOUT):
            return await reader.readuntil(b"\r\n")
    except (ConnectionError, asyncio.IncompleteReadError):
        return b""
    finally:
        writer.close()


async def test_malformed_requests_put_no_key_in_logs_and_are_never_500() -> None:
    """The issue's malformed requests (control character, folded header, invalid header
    name, bad request line with ?api-key=, a header line over 8190 bytes, a non-ASCII token,
    non-UTF-8 key, unparsable Origin, JSON nested past orjson's and Python's limits in
    minting and chat): no 5xx, the key in no log line (DEBUG), no traceback."""
    env = _env("uvloop", PROXY_API_KEYS=CLIENT_KEY, PROXY_LOG_LEVEL="debug")
    requests = [
        *MALFORMED,
        _post("/v1/realtime/client_secrets", _deep(300)),
        _post("/v1/realtime/client_secrets", _deep(2000)),
        _post("/v1/chat/completions", b'{"model":"gpt-4o","messages":[],"x":' + _deep(300) + b"}"),
    ]
    async with proxy_process(env=env) as proxy:
        statuses = [await _exchange(proxy.port, request) for request in requests]
        await spoken_turn(proxy.url, KEYED)  # the proxy is still fine
    codes = [int(line.split()[1]) for line in statuses if line]
    assert codes
    assert all(code < 500 for code in codes), statuses
    assert {400, 401, 403} <= set(codes)
    text = b"".join(proxy.lines).decode(errors="replace")
    assert CLIENT_KEY not in text
    assert "Traceback" not in text


# -- the WebSocket layer (in-process proxy in front of the emulator) -------------------------------


@dataclasses.dataclass
class Keyed:
    emulator: TestServer
    proxy: TestServer

    def url(self, path: str) -> str:
        return str(self.proxy.make_url(path))

    def ws(self, path: str = "/v1/realtime") -> str:
        return self.url(path).replace("http", "ws", 1)


async def _keyed(aiohttp_server: Any, start_proxy: Any, **tokens: Any) -> Keyed:
    settings = EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0)
    emulator = await aiohttp_server(create_emulator_app(settings))
    cfg = proxy_config(str(emulator.make_url(EMULATOR_PATH)).replace("http", "ws", 1))
    cfg = dataclasses.replace(
        cfg,
        clients=ClientsConfig(api_keys=(CLIENT_KEY,)),
        tokens=dataclasses.replace(TokensConfig(), **tokens),
    )
    return Keyed(emulator=emulator, proxy=await start_proxy(cfg))


async def _mint(http: aiohttp.ClientSession, keyed: Keyed, session: dict[str, Any]) -> str:
    body = {"expires_after": {"seconds": 60}, "session": session}
    async with http.post(keyed.url("/v1/realtime/client_secrets"), json=body, headers=KEYED) as r:
        assert r.status == 200
        return str((await r.json())["value"])


async def _event(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            event: dict[str, Any] = await ws.receive_json()
            if event["type"] == kind:
                return event


async def test_token_opens_realtime_sessions_and_nothing_else(
    aiohttp_server: Any, start_proxy: Any
) -> None:
    """A token gets 401 on /v1/chat/completions, /v1/models and minting; it opens a realtime
    session."""
    keyed = await _keyed(aiohttp_server, start_proxy)
    async with aiohttp.ClientSession() as http:
        token = await _mint(http, keyed, {"model": "gpt-realtime"})
        bearer = {"Authorization": f"Bearer {token}"}
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(keyed.url("/v1/chat/completions"), json=chat, headers=bearer) as r:
            assert r.status == 401
            assert "realtime sessions only" in (await r.json())["error"]["message"]
        async with http.get(keyed.url("/v1/models"), headers=bearer) as r:
            assert r.status == 401
        body = {"session": {"model": "gpt-realtime"}}
        async with http.post(
            keyed.url("/v1/realtime/client_secrets"), json=body, headers=bearer
        ) as r:
            assert r.status == 401
        async with http.ws_connect(keyed.ws(), headers=bearer) as ws:
            assert (await _event(ws, "session.created"))["type"] == "session.created"


async def test_second_session_with_the_same_token_is_refused(
    aiohttp_server: Any, start_proxy: Any
) -> None:
    """tokens.max_sessions = 1 by default: while a token's session is open, a second one gets
    `error` token_session_limit and close 1013; once the first ended, the token works again."""
    keyed = await _keyed(aiohttp_server, start_proxy)
    ended = EndedSessions(keyed.proxy.app)
    async with aiohttp.ClientSession() as http:
        token = await _mint(http, keyed, {"model": "gpt-realtime"})
        protocols = ("realtime", f"openai-insecure-api-key.{token}")
        async with http.ws_connect(keyed.ws(), protocols=protocols) as first:
            await _event(first, "session.created")
            async with http.ws_connect(keyed.ws(), protocols=protocols) as second:
                error = await _event(second, "error")
                assert error["error"]["code"] == "token_session_limit"
                async with asyncio.timeout(TIMEOUT):
                    closing = await second.receive()
                assert closing.type is aiohttp.WSMsgType.CLOSE
                assert closing.data == 1013
        await ended.wait(1)
        async with http.ws_connect(keyed.ws(), protocols=protocols) as again:
            await _event(again, "session.created")
    assert len(keyed.emulator.app[EMULATOR_SESSIONS]) == 2  # the refused one never dialled


async def test_token_session_cannot_change_its_model(aiohttp_server: Any, start_proxy: Any) -> None:
    """A token minted for gpt-realtime-mini: ?model= cannot change it, a session.update
    naming another model gets `error` locked_field (param session.model) and is not relayed,
    the session goes on, and a field not locked still changes."""
    keyed = await _keyed(aiohttp_server, start_proxy)
    async with aiohttp.ClientSession() as http:
        token = await _mint(http, keyed, {"model": "gpt-realtime-mini", "instructions": "Cook."})
        bearer = {"Authorization": f"Bearer {token}"}
        async with http.ws_connect(
            keyed.ws("/v1/realtime?model=gpt-realtime"), headers=bearer
        ) as ws:
            await _event(ws, "session.created")
            [record] = keyed.emulator.app[EMULATOR_SESSIONS].values()
            assert record.session_config["model"] == "openai/gpt-5.4-mini"
            update = {
                "type": "session.update",
                "event_id": "evt_1",
                "session": {"model": "gpt-realtime"},
            }
            await ws.send_json(update)
            error = await _event(ws, "error")
            assert error["error"]["code"] == "locked_field"
            assert error["error"]["param"] == "session.model"
            assert error["error"]["event_id"] == "evt_1"
            same = {"model": "gpt-realtime-mini", "instructions": "Only cooking, briefly."}
            await ws.send_json({"type": "session.update", "session": same})
            updated = await _event(ws, "session.updated")
            assert updated["session"]["instructions"] == "Only cooking, briefly."
    assert record.session_config["model"] == "openai/gpt-5.4-mini"


async def test_locked_fields_hold_instructions_too(aiohttp_server: Any, start_proxy: Any) -> None:
    """tokens.locked_fields = ["model", "instructions"]: a session.update or a
    response.create that changes the instructions is refused; resending the minted value is
    not a change."""
    keyed = await _keyed(aiohttp_server, start_proxy, locked_fields=("model", "instructions"))
    async with aiohttp.ClientSession() as http:
        token = await _mint(http, keyed, {"model": "gpt-realtime", "instructions": "Cook."})
        async with http.ws_connect(keyed.ws(), headers={"Authorization": f"Bearer {token}"}) as ws:
            await _event(ws, "session.created")
            await ws.send_json({"type": "session.update", "session": {"instructions": "Hack."}})
            assert (await _event(ws, "error"))["error"]["param"] == "session.instructions"
            response = {"instructions": "Hack.", "output_modalities": ["text"]}
            await ws.send_json({"type": "response.create", "response": response})
            assert (await _event(ws, "error"))["error"]["param"] == "response.instructions"
            await ws.send_json({"type": "session.update", "session": {"instructions": "Cook."}})
            await _event(ws, "session.updated")
    [record] = keyed.emulator.app[EMULATOR_SESSIONS].values()
    assert record.session_config["instructions"] == "Cook."


async def test_deep_session_update_is_an_error_event_and_the_session_lives(stack: Any) -> None:
    """A session.update nested 255-1023 deep is answered `invalid_json`, not 1011: the
    session goes on."""
    url = str(stack.proxy.make_url("/v1/realtime")).replace("http", "ws", 1)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await _event(ws, "session.created")
        for depth in (255, 600, 1020):
            deep = '{"type":"session.update","session":{"x":' + "[" * depth + "]" * depth + "}}"
            await ws.send_str(deep)
            assert (await _event(ws, "error"))["error"]["code"] == "invalid_json"
        await ws.send_json({"type": "session.update", "session": {"instructions": "still here"}})
        assert (await _event(ws, "session.updated"))["session"]["instructions"] == "still here"


def _masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = len(payload)
    head = (
        bytes([0x81, 0x80 | length])
        if length < 126
        else bytes([0x81, 0xFE]) + struct.pack("!H", length)
    )
    return head + mask + body


async def test_frames_pipelined_with_the_upgrade_are_processed_in_order(stack: Any) -> None:
    """Two frames sent in the same packet as the upgrade request (before the 101) reach the
    session, in order: both session.updates are answered, the second one's value wins."""
    port = stack.proxy.port
    key = base64.b64encode(os.urandom(16)).decode()
    upgrade = (
        f"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    updates = [
        orjson.dumps({"type": "session.update", "session": {"instructions": text}})
        for text in ("first", "second")
    ]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(upgrade + b"".join(_masked_text_frame(u) for u in updates))
    received = b""
    try:
        async with asyncio.timeout(TIMEOUT):
            while received.count(b'"session.updated"') < 2:
                chunk = await reader.read(65536)
                assert chunk, received
                received += chunk
    finally:
        writer.close()
    assert received.startswith(b"HTTP/1.1 101")
    assert received.index(b'"instructions":"first"') < received.index(b'"instructions":"second"')
    [record] = stack.sessions.values()
    assert record.session_config["instructions"] == "second"

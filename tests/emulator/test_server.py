"""The emulator's aiohttp shell on loopback: handshake refusals, frames, registry, pings."""

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient

from proxy.emulator import (
    EMULATOR_PATH,
    EMULATOR_SESSIONS,
    EmulatorSettings,
    create_emulator_app,
)

KEY_ID, SECRET = "key-id", "s3cret"
PORTAL_KEY = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
BASIC = {"Authorization": f"Basic {PORTAL_KEY}"}
URL = f"{EMULATOR_PATH}?key=sess-1&protocol=realtime"

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(aiohttp_client: Any) -> MakeClient:
    """Start the emulator with the given settings; returns a test client for it."""

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = await aiohttp_client(
            create_emulator_app(EmulatorSettings(**overrides))
        )
        return client

    return make


async def recv(ws: ClientWebSocketResponse) -> dict[str, Any]:
    """Next TEXT frame as JSON, within a second."""
    async with asyncio.timeout(1):
        msg = await ws.receive()
    assert msg.type is WSMsgType.TEXT, msg
    event: dict[str, Any] = orjson.loads(msg.data)
    return event


async def recv_until(ws: ClientWebSocketResponse, type_: str) -> list[dict[str, Any]]:
    """Frames up to and including the first of ``type_``."""
    events = [await recv(ws)]
    while events[-1]["type"] != type_:
        events.append(await recv(ws))
    return events


async def send(ws: ClientWebSocketResponse, **event: Any) -> None:
    await ws.send_str(orjson.dumps(event).decode())


async def refused_status(client: TestClient[Any, Any], url: str, **kwargs: Any) -> int:
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect(url, **kwargs)
    return info.value.status


async def test_missing_credentials_are_refused_before_upgrade(make_client: MakeClient) -> None:
    """No credential → HTTP 401 with a JSON error body and no upgrade."""
    client = await make_client()
    assert await refused_status(client, URL) == 401
    response = await client.get(URL)
    assert response.status == 401
    body = await response.json()
    assert body["error"]["code"] == 401
    assert client.app is not None
    assert client.app[EMULATOR_SESSIONS] == {}


@pytest.mark.parametrize(
    "authorization",
    ["Basic not-base64!", f"Basic {base64.b64encode(b'no-colon').decode()}", "Token abc", "Basic"],
)
async def test_malformed_credentials_are_refused(
    make_client: MakeClient, authorization: str
) -> None:
    """Malformed Basic values and unknown schemes → 401 even in open mode."""
    client = await make_client()
    assert await refused_status(client, URL, headers={"Authorization": authorization}) == 401


async def test_key_and_secret_must_match(make_client: MakeClient) -> None:
    """With key+secret configured only base64(key:secret) passes, as Basic or Bearer."""
    client = await make_client(api_key=KEY_ID, api_secret=SECRET)
    wrong = base64.b64encode(b"key-id:other").decode()
    assert await refused_status(client, URL, headers={"Authorization": f"Basic {wrong}"}) == 401
    jwt = {"Authorization": "Bearer eyJhbGciOi.eyJzdWIiOi.c2ln"}
    assert await refused_status(client, URL, headers=jwt) == 401
    for scheme in ("Basic", "Bearer"):
        ws = await client.ws_connect(URL, headers={"Authorization": f"{scheme} {PORTAL_KEY}"})
        assert (await recv(ws))["type"] == "session.created"
        await ws.close()


async def test_portal_key_is_compared_verbatim(make_client: MakeClient) -> None:
    """With only api_key set it is the portal credential; re-encoding it is refused."""
    client = await make_client(api_key=PORTAL_KEY)
    double = base64.b64encode(PORTAL_KEY.encode()).decode()
    assert await refused_status(client, URL, headers={"Authorization": f"Basic {double}"}) == 401
    ws = await client.ws_connect(URL, headers=BASIC)
    assert (await recv(ws))["type"] == "session.created"
    await ws.close()


async def test_subprotocol_credential_is_echoed(make_client: MakeClient) -> None:
    """basic_<key without '='> authenticates and is echoed as the chosen sub-protocol."""
    client = await make_client(api_key=KEY_ID, api_secret=SECRET)
    offer = "basic_" + PORTAL_KEY.rstrip("=")
    ws = await client.ws_connect(URL, protocols=("realtime", offer))
    assert ws.protocol == offer
    assert (await recv(ws))["type"] == "session.created"
    await ws.close()
    assert client.app is not None
    record = client.app[EMULATOR_SESSIONS]["sess-1"]
    assert record.subprotocol == offer
    assert record.credential.scheme == "subprotocol"


async def test_protocol_query_must_be_realtime(make_client: MakeClient) -> None:
    """Without protocol=realtime the upgrade is refused with HTTP 400."""
    client = await make_client()
    url = f"{EMULATOR_PATH}?key=sess-1"
    assert await refused_status(client, url, headers=BASIC) == 400
    response = await client.get(f"{url}&protocol=openai", headers=BASIC)
    assert response.status == 400
    assert "protocol" in (await response.json())["error"]["message"]


async def test_plain_get_is_a_json_400(make_client: MakeClient) -> None:
    """An authenticated non-WebSocket GET gets 400 JSON, not an upgrade."""
    client = await make_client()
    response = await client.get(URL, headers=BASIC)
    assert response.status == 400
    assert response.content_type == "application/json"
    assert "WebSocket" in (await response.json())["error"]["message"]


async def test_missing_key_closes_1008(make_client: MakeClient) -> None:
    """Without ?key the socket is upgraded, then closed 1008 as the prototype does."""
    client = await make_client()
    ws = await client.ws_connect(f"{EMULATOR_PATH}?protocol=realtime", headers=BASIC)
    async with asyncio.timeout(1):
        msg = await ws.receive()
    assert msg.type is WSMsgType.CLOSE
    assert ws.close_code == 1008
    assert msg.extra == "No session key provided"


async def test_session_update_round_trip_and_registry(make_client: MakeClient) -> None:
    """session.created comes first; an update is answered and recorded in the registry."""
    client = await make_client()
    headers = {**BASIC, "X-Trace": "t1"}
    ws = await client.ws_connect(URL, headers=headers)
    created = await recv(ws)
    assert created["type"] == "session.created"
    await send(ws, type="session.update", session={"audio": {"output": {"voice": "Olivia"}}})
    updated = await recv(ws)
    assert updated["type"] == "session.updated"
    assert updated["session"]["audio"]["output"]["voice"] == "Olivia"
    await send(ws, type="session.update", event_id="e1", session={"model": "gpt-realtime"})
    error = await recv(ws)
    assert (error["error"]["param"], error["error"]["event_id"]) == ("session.model", "e1")
    await ws.close()
    assert client.app is not None
    record = client.app[EMULATOR_SESSIONS]["sess-1"]
    assert record.session_config["audio"]["output"]["voice"] == "Olivia"
    assert record.client_event_types == ["session.update", "session.update"]
    assert record.headers["x-trace"] == "t1"
    assert record.headers["Authorization"] == BASIC["Authorization"]
    assert "OpenAI-Beta" not in record.headers
    assert record.query == {"key": "sess-1", "protocol": "realtime"}
    assert record.sent_event_types == ["session.created", "session.updated", "error"]
    async with asyncio.timeout(1):
        await record.finished.wait()
    assert record.closed
    assert record.close_code == 1000


async def test_all_frames_are_text_and_a_response_streams(make_client: MakeClient) -> None:
    """A text turn and response.create stream TEXT frames ending in response.done."""
    client = await make_client()
    ws = await client.ws_connect(URL, headers=BASIC)
    await recv(ws)
    content = [{"type": "input_text", "text": "hi"}]
    await send(ws, type="conversation.item.create", item={"role": "user", "content": content})
    await send(ws, type="response.create", response={"output_modalities": ["text"]})
    events = await recv_until(ws, "response.done")
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: hi"
    assert events[-1]["response"]["status"] == "completed"
    await ws.close()


async def test_paced_response_can_be_cancelled_mid_flight(make_client: MakeClient) -> None:
    """With response_pace > 0 a response.cancel lands mid-stream and ends it cancelled."""
    client = await make_client(response_pace=0.05, ping_interval=0)
    ws = await client.ws_connect(URL, headers=BASIC)
    await recv(ws)
    await send(ws, type="response.create")
    await recv_until(ws, "response.output_audio.delta")
    await send(ws, type="response.cancel")
    events = await recv_until(ws, "response.done")
    assert events[-1]["response"]["status_details"]["reason"] == "client_cancelled"
    assert "response.output_audio.done" not in [e["type"] for e in events]
    await ws.close()


async def test_pings_arrive(make_client: MakeClient) -> None:
    """With a short ping_interval app-level ping frames arrive with a timestamp."""
    client = await make_client(ping_interval=0.01)
    ws = await client.ws_connect(URL, headers=BASIC)
    assert (await recv(ws))["type"] == "session.created"
    pings = [await recv(ws), await recv(ws)]
    assert [p["type"] for p in pings] == ["ping", "ping"]
    assert all(isinstance(p["timestamp"], int) and p["event_id"] for p in pings)
    assert pings[0]["event_id"] != pings[1]["event_id"]
    await ws.close()


async def test_shutdown_closes_open_sockets_with_1001(aiohttp_server: Any) -> None:
    """on_shutdown closes open sessions with 1001 and the record keeps the code."""
    server = await aiohttp_server(create_emulator_app(EmulatorSettings(ping_interval=0)))
    client = TestClient(server)
    await client.start_server()
    try:
        ws = await client.ws_connect(URL, headers=BASIC)
        await recv(ws)
        async with asyncio.timeout(2), asyncio.TaskGroup() as tasks:
            tasks.create_task(server.close())  # waits for our close reply, so run it alongside
            msg = await ws.receive()
        assert msg.type is WSMsgType.CLOSE
        assert ws.close_code == 1001
        record = server.app[EMULATOR_SESSIONS]["sess-1"]
        async with asyncio.timeout(1):
            await record.finished.wait()
        assert record.close_code == 1001
    finally:
        await client.close()


async def test_foreign_subprotocols_are_not_echoed_or_logged(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An offered OpenAI key sub-protocol is neither echoed nor written to the logs."""
    client = await make_client()
    offer = ("openai-insecure-api-key.sk-leak",)
    ws = await client.ws_connect(URL, headers=BASIC, protocols=offer)
    assert ws.protocol is None
    assert (await recv(ws))["type"] == "session.created"
    await ws.close()
    assert "sk-leak" not in caplog.text
    assert client.app is not None
    assert client.app[EMULATOR_SESSIONS]["sess-1"].offered_subprotocols == offer

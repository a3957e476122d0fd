"""Shadow traffic through the proxy: a primary on one emulator, its shadow on a second one.

The client must see exactly what it sees without a shadow; the shadow gets the client's input,
is measured with role="shadow", and when it is slow, stalls, fails or falls behind it is dropped
and counted while the primary's turns go on untouched.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from proxy.config import Config, load
from proxy.emulator import EMULATOR_PATH, EMULATOR_SESSIONS, EmulatorSettings, create_emulator_app
from proxy.emulator.faults import FaultMode
from proxy.web.appkeys import ROUTE_METRICS
from tests.support.rig import TEST_LIMITS
from tests.support.scripted import SERVER_VAD, EndedSessions, session
from tests.support.stack import KEY, SECRET

TIMEOUT = 10
ENV = {"INWORLD_API_KEY": KEY, "INWORLD_API_SECRET": SECRET}
SHADOW = "mini"
ROUTES = """
[routing.routes."plain"]
model = "openai/gpt-5.5"
[routing.routes."gpt-realtime"]
model = "openai/gpt-5.5"
shadow = {{ model = "openai/gpt-5.4-mini", name = "mini", url = "{url}", share = 1 }}
"""
PRIMARY = {"route": "gpt-realtime", "variant": "inworld:openai/gpt-5.5", "provider": "inworld"}
SHADOWED = {"route": "gpt-realtime", "variant": SHADOW, "provider": "inworld"}


def ws_url(server: TestServer) -> str:
    return str(server.make_url(EMULATOR_PATH)).replace("http", "ws", 1)


async def emulator(aiohttp_server: Any, **settings: Any) -> TestServer:
    options = {"api_key": KEY, "api_secret": SECRET, "ping_interval": 0, **settings}
    server: TestServer = await aiohttp_server(create_emulator_app(EmulatorSettings(**options)))
    return server


@dataclasses.dataclass
class Setup:
    proxy: TestServer
    primary: TestServer
    shadow_url: str
    registry: CollectorRegistry

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels`."""
        return sum(
            sample.value
            for family in self.registry.collect()
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )


async def setup(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any, shadow_url: str, **limits: Any
) -> Setup:
    primary = await emulator(aiohttp_server)
    path = tmp_path / "proxy.toml"
    path.write_text(ROUTES.format(url=shadow_url))
    cfg: Config = load(path, ENV)
    cfg = dataclasses.replace(
        cfg,
        upstream=dataclasses.replace(cfg.upstream, url=ws_url(primary)),
        limits=dataclasses.replace(TEST_LIMITS, **limits),
    )
    registry = CollectorRegistry()
    proxy = await start_proxy(cfg, registry)
    return Setup(proxy=proxy, primary=primary, shadow_url=shadow_url, registry=registry)


class ShadowEnds:
    """Counts shadow sessions the proxy has accounted for (wraps the family's `labels`)."""

    def __init__(self, app: web.Application) -> None:
        self.count = 0
        self._changed = asyncio.Event()
        family = app[ROUTE_METRICS].shadow_sessions
        original = family.labels

        def labels(*values: str) -> Any:
            child = original(*values)
            self.count += 1
            self._changed.set()
            return child

        family.labels = labels  # type: ignore[method-assign]

    async def wait(self, count: int = 1) -> None:
        async with asyncio.timeout(TIMEOUT):
            while self.count < count:
                self._changed.clear()
                await self._changed.wait()


def user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def script(proxy: TestServer, model: str, shadow_ends: ShadowEnds | None = None) -> list[str]:
    """A spoken turn and a text turn; the event types the client saw. With `shadow_ends`,
    the second turn waits until the shadow is gone."""
    async with session(proxy.make_url(f"/v1/realtime?model={model}")) as client:
        await client.send(type="session.update", session=SERVER_VAD)
        await client.until("session.updated")
        await client.spoken_turn()
        if shadow_ends is not None:  # reading meanwhile, so the proxy's pings are answered
            async with asyncio.TaskGroup() as tasks:
                reading = tasks.create_task(client.ws.receive())
                await shadow_ends.wait()
                assert not reading.done()  # nothing reached the client meanwhile
                reading.cancel()
        await client.send(type="conversation.item.create", item=user_text("hello there"))
        await client.send(type="response.create")
        await client.until("response.done")
        return [event["type"] for event in client.events]


@pytest.fixture
async def baseline(tmp_path: Path, aiohttp_server: Any, start_proxy: Any) -> list[str]:
    """What the client sees on a route without a shadow."""
    unused = await emulator(aiohttp_server)
    plain = await setup(tmp_path, aiohttp_server, start_proxy, ws_url(unused))
    return await script(plain.proxy, "plain")


async def test_shadow_mirrors_the_client_and_is_measured_apart(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any, baseline: list[str]
) -> None:
    """The client sees what it sees without a shadow; the shadow emulator gets the same client
    events; its turns count with role="shadow", the primary's with role="primary"."""
    shadow = await emulator(aiohttp_server)
    s = await setup(tmp_path, aiohttp_server, start_proxy, ws_url(shadow))
    ends, shadow_ends = EndedSessions(s.proxy.app), ShadowEnds(s.proxy.app)
    seen = await script(s.proxy, "gpt-realtime")
    await ends.wait()
    await shadow_ends.wait()
    assert seen == baseline
    [primary] = s.primary.app[EMULATOR_SESSIONS].values()
    [mirror] = shadow.app[EMULATOR_SESSIONS].values()
    assert mirror.client_event_types == primary.client_event_types
    assert "input_audio_buffer.append" in mirror.client_event_types
    assert mirror.session_config["model"] == "openai/gpt-5.4-mini"  # translated for the shadow
    assert primary.session_config["model"] == "openai/gpt-5.5"
    assert not mirror.engine.errors
    latency = "inworld_proxy_route_turn_latency_seconds_count"
    assert s.value(latency, role="primary", **PRIMARY) == 2
    assert s.value(latency, role="shadow", **SHADOWED) == 2
    first_text = "inworld_proxy_route_first_text_latency_seconds_count"
    assert s.value(first_text, role="shadow", **SHADOWED) == 2
    assert s.value("inworld_proxy_shadow_sessions_total", outcome="completed", **SHADOWED) == 1
    assert s.value("inworld_proxy_route_tokens_total", role="shadow", kind="output_audio",
                   **SHADOWED) > 0  # fmt: skip
    audio = "inworld_proxy_route_audio_seconds_total"
    assert s.value(audio, role="shadow", direction="upstream_to_client", **SHADOWED) > 0
    per_model = "inworld_proxy_turn_latency_seconds_count"  # what clients get: no shadow
    assert s.total(per_model, model="openai/gpt-5.4-mini") == 0
    assert s.total(per_model, model="openai/gpt-5.5") == 2


async def test_a_slow_shadow_never_holds_the_primary(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """The shadow answers after 3 s: the client's reply is complete before the shadow has sent
    any audio at all."""
    shadow = await emulator(aiohttp_server, first_audio_ms=3000)
    s = await setup(tmp_path, aiohttp_server, start_proxy, ws_url(shadow))
    async with session(s.proxy.make_url("/v1/realtime?model=gpt-realtime")) as client:
        await client.send(type="conversation.item.create", item=user_text("hello there"))
        await client.send(type="response.create")
        got = await client.until("response.done")
        [mirror] = shadow.app[EMULATOR_SESSIONS].values()
        assert "response.created" in mirror.sent_event_types  # the shadow is answering...
        assert "response.output_audio.delta" not in mirror.sent_event_types  # ...not yet heard
    assert "response.output_audio.delta" in [e["type"] for e in got]


@pytest.mark.parametrize(
    ("fault", "outcome", "why"),
    [("refuse", "refused", "handshake failed"), ("silent", "failed", "no session start"),
     ("stall", "failed", "1006 heartbeat missed"), ("close", "failed", "closed (1011"),
     ("reset", "failed", "closed (1006")],
)  # fmt: skip
async def test_a_failing_shadow_is_dropped_and_the_primary_goes_on(
    tmp_path: Path,
    aiohttp_server: Any,
    start_proxy: Any,
    baseline: list[str],
    fault: FaultMode,
    outcome: str,
    why: str,
) -> None:
    """Refused, never started, stalled (heartbeat missed), closed or reset mid-response: the
    shadow is dropped and counted; the client's session is exactly the baseline."""
    shadow = await emulator(aiohttp_server, fault=fault, response_pace=0.02)
    s = await setup(tmp_path, aiohttp_server, start_proxy, ws_url(shadow))
    shadow_ends = ShadowEnds(s.proxy.app)
    with structlog.testing.capture_logs() as logs:
        seen = await script(s.proxy, "gpt-realtime", shadow_ends)
    assert seen == baseline
    assert s.value("inworld_proxy_shadow_sessions_total", outcome=outcome, **SHADOWED) == 1
    assert shadow_ends.count == 1
    [dropped] = [line for line in logs if line["event"] == "shadow_dropped"]
    assert dropped["outcome"] == outcome
    assert why in dropped["reason"]
    latency = "inworld_proxy_route_turn_latency_seconds_count"
    assert s.value(latency, role="primary", **PRIMARY) == 2


async def test_a_shadow_that_falls_behind_is_dropped(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any, baseline: list[str]
) -> None:
    """The shadow's upstream never answers its handshake while the client streams audio: the
    shadow's queue passes limits.max_queued_bytes and the shadow is dropped (`behind`)."""
    hung: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hung.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"ws://127.0.0.1:{port}/api/v1/realtime/session"
        s = await setup(tmp_path, aiohttp_server, start_proxy, url, max_queued_bytes=16384)
        shadow_ends = ShadowEnds(s.proxy.app)
        with structlog.testing.capture_logs() as logs:
            seen = await script(s.proxy, "gpt-realtime", shadow_ends)
        assert seen == baseline
        assert s.value("inworld_proxy_shadow_sessions_total", outcome="behind", **SHADOWED) == 1
        [dropped] = [line for line in logs if line["event"] == "shadow_dropped"]
        assert "queue full" in dropped["reason"]
    finally:
        for writer in hung:
            writer.close()
        server.close()
        await server.wait_closed()


TOOLS = {
    "type": "realtime",
    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
}


async def test_shadow_tool_calls_get_the_canned_output(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """The shadow's tool call is answered with {"shadow": true}; the client's answer to the
    primary's call never reaches the shadow, whose conversation goes on at the next
    response.create."""
    shadow = await emulator(aiohttp_server)
    s = await setup(tmp_path, aiohttp_server, start_proxy, ws_url(shadow))
    shadow_ends = ShadowEnds(s.proxy.app)
    async with session(s.proxy.make_url("/v1/realtime?model=gpt-realtime")) as client:
        await client.send(type="session.update", session=TOOLS)
        await client.until("session.updated")
        await client.send(type="conversation.item.create", item=user_text("get weather, Paris"))
        await client.send(type="response.create")
        done = (await client.until("response.done"))[-1]
        [call] = done["response"]["output"]
        assert call["type"] == "function_call"
        answer = {"type": "function_call_output", "call_id": call["call_id"], "output": "{}"}
        await client.send(type="conversation.item.create", item=answer)
        await client.send(type="response.create")
        await client.until("response.done")
    await shadow_ends.wait()
    [mirror] = shadow.app[EMULATOR_SESSIONS].values()
    outputs = [i for i in mirror.engine.items if i["type"] == "function_call_output"]
    calls = [i for i in mirror.engine.items if i["type"] == "function_call"]
    assert calls[0]["call_id"] != call["call_id"]  # the shadow's own call, not the primary's
    assert [(o["call_id"], o["output"]) for o in outputs] == [
        (calls[0]["call_id"], '{"shadow": true}')
    ]
    assert mirror.sent_event_types.count("response.done") == 2  # it went on after the call
    assert not mirror.engine.errors


async def test_an_openai_shadow_gets_the_clients_frames_as_sent(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """provider=openai: the shadow is a pass-through at its own `url` with OPENAI_API_KEY;
    it receives the client's frames unchanged and its turn is measured as role="shadow"."""
    received: list[str] = []
    keys: list[str] = []

    async def fake_openai(request: web.Request) -> web.StreamResponse:
        keys.append(request.headers.get("Authorization", ""))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"type":"session.created","session":{}}')
        async for msg in ws:
            received.append(msg.data)
            if '"response.create"' in msg.data:
                for event in (
                    '{"type":"response.created","response":{"id":"r1"}}',
                    '{"type":"response.output_audio.delta","response_id":"r1","delta":"AAAA"}',
                    '{"type":"response.done","response":{"id":"r1","status":"completed"}}',
                ):
                    await ws.send_str(event)
        return ws

    app = web.Application()
    app.router.add_get("/v1/realtime", fake_openai)
    openai = await aiohttp_server(app)
    url = str(openai.make_url("/v1/realtime")).replace("http", "ws", 1)
    primary = await emulator(aiohttp_server)
    path = tmp_path / "proxy.toml"
    path.write_text(
        '[routing.routes."gpt-realtime"]\nmodel = "openai/gpt-5.5"\n'
        f'shadow = {{ provider = "openai", model = "gpt-realtime", name = "oa", url = "{url}" }}\n'
    )
    cfg = load(path, {**ENV, "OPENAI_API_KEY": "sk-shadow"})
    cfg = dataclasses.replace(cfg, upstream=dataclasses.replace(cfg.upstream, url=ws_url(primary)))
    registry = CollectorRegistry()
    proxy = await start_proxy(cfg, registry)
    shadow_ends = ShadowEnds(proxy.app)
    create = '{"type":"conversation.item.create",  "item":{"type":"message","role":"user",' \
        '"content":[{"type":"input_text","text":"hi"}]}}'  # fmt: skip
    async with session(proxy.make_url("/v1/realtime?model=gpt-realtime")) as client:
        await client.ws.send_str(create)
        await client.send(type="response.create")
        await client.until("response.done")
    await shadow_ends.wait()
    assert keys == ["Bearer sk-shadow"]
    assert received == [create, '{"type":"response.create"}']
    labels = {"route": "gpt-realtime", "variant": "oa", "provider": "openai", "role": "shadow"}
    latency = registry.get_sample_value("inworld_proxy_route_turn_latency_seconds_count", labels)
    assert latency == 1

"""Routed realtime sessions through the proxy: variants, fallback, the OpenAI pass-through."""

from __future__ import annotations

import asyncio
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from proxy.config import Config, load
from proxy.config.routes import choose, parse_routing
from proxy.emulator import EMULATOR_PATH, EMULATOR_SESSIONS, EmulatorSettings, create_emulator_app
from tests.support.scripted import EndedSessions, session
from tests.support.stack import KEY, SECRET

TIMEOUT = 10
ENV = {"INWORLD_API_KEY": KEY, "INWORLD_API_SECRET": SECRET, "OPENAI_API_KEY": "sk-openai-test"}
PLAIN = "[translation]\necho_client_names = false\n"  # session.created shows Inworld's ids


def routed_config(tmp_path: Path, toml: str, upstream: str, **openai: Any) -> Config:
    """Defaults + `toml`, the test credentials, pointed at `upstream` (and a fake OpenAI)."""
    path = tmp_path / "proxy.toml"
    path.write_text(PLAIN + toml)
    cfg = load(path, ENV)
    return dataclasses.replace(
        cfg,
        upstream=dataclasses.replace(cfg.upstream, url=upstream),
        openai=dataclasses.replace(cfg.openai, **openai),
    )


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def emulator(aiohttp_server: Any) -> tuple[TestServer, str]:
    server = await aiohttp_server(
        create_emulator_app(EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0))
    )
    return server, str(server.make_url(EMULATOR_PATH)).replace("http", "ws", 1)


# Frames with unusual spacing and key order: only a byte-for-byte relay keeps them as they are.
CREATED = '{"type" : "session.created","event_id":"e1",  "session":{"model":"gpt-realtime"}}'
TURN = (
    '{"response":{"id":"r1"},"type":"response.created", "event_id":"e2"}',
    '{"type":"response.output_audio.delta","response_id":"r1","delta":"AAAAAAAA" }',
    '{"event_id":"e3","type":"response.done","response":{"id":"r1","status":"completed"}}',
)


@dataclasses.dataclass
class FakeOpenAI:
    """A loopback stand-in for OpenAI's Realtime endpoint (records what it was sent)."""

    status: int | None = None
    requests: list[web.Request] = dataclasses.field(default_factory=list)
    received: list[str] = dataclasses.field(default_factory=list)

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if self.status is not None:
            return web.json_response({"error": {"message": "nope"}}, status=self.status)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(CREATED)
        async for msg in ws:
            self.received.append(msg.data)
            if '"response.create"' in msg.data:
                for raw in TURN:
                    await ws.send_str(raw)
        return ws


async def fake_openai(aiohttp_server: Any, **options: Any) -> tuple[FakeOpenAI, str]:
    fake = FakeOpenAI(**options)
    app = web.Application()
    app.router.add_get("/v1/realtime", fake.handler)
    server = await aiohttp_server(app)
    return fake, str(server.make_url("/v1/realtime")).replace("http", "ws", 1)


async def proxy(start_proxy: Any, cfg: Config) -> tuple[TestServer, CollectorRegistry]:
    registry = CollectorRegistry()
    return await start_proxy(cfg, registry), registry


AB = """
[routing]
sticky_key = "header:X-User"
[routing.routes."gpt-realtime"]
variants = [
  { model = "openai/gpt-5.4-mini", weight = 1, name = "mini" },
  { model = "anthropic/claude-sonnet-4-6", weight = 1, name = "claude" },
]
"""


async def test_variants_are_sticky_and_follow_the_chooser(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """Each caller's sessions run on the variant the pure chooser names for its key."""
    _, url = await emulator(aiohttp_server)
    cfg = routed_config(tmp_path, AB, url)
    server, registry = await proxy(start_proxy, cfg)
    ends = EndedSessions(server.app)
    route = cfg.routing.routes["gpt-realtime"]
    users = [f"user-{n}" for n in range(12)] + ["user-0", "user-1"]
    seen: dict[str, str] = {}
    with structlog.testing.capture_logs() as logs:
        for user in users:
            target = server.make_url("/v1/realtime?model=gpt-realtime")
            async with session(target, headers={"X-User": user}) as client:
                model = client.events[-1]["session"]["model"]
            expected = choose(route, user)
            assert model == expected.model
            assert seen.setdefault(user, model) == model  # the same caller, the same variant
        await ends.wait(len(users))
    chosen = [choose(route, user).name for user in users]
    assert set(chosen) == {"mini", "claude"}
    for name in ("mini", "claude"):
        labels = {"route": "gpt-realtime", "variant": name, "provider": "inworld"}
        count = value(
            registry, "inworld_proxy_route_sessions_total", outcome="client_closed", **labels
        )
        assert count == chosen.count(name)
    ended = [e for e in logs if e["event"] == "session_end"]
    assert [e["variant"] for e in ended] == chosen
    assert {e["provider"] for e in ended} == {"inworld"}


FALLBACK = """
[routing.routes."gpt-realtime"]
model = "mistral/large-2"
fallback = ["openai/gpt-5.4-mini"]
"""


async def test_model_refused_at_setup_falls_back(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """Inworld refuses the first variant's model: the next one serves, the client sees no error."""
    emu, url = await emulator(aiohttp_server)
    server, registry = await proxy(start_proxy, routed_config(tmp_path, FALLBACK, url))
    ends = EndedSessions(server.app)
    with structlog.testing.capture_logs() as logs:
        async with session(server.make_url("/v1/realtime?model=gpt-realtime")) as client:
            assert client.events[-1]["session"]["model"] == "openai/gpt-5.4-mini"
            await client.send(
                type="conversation.item.create",
                item={"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "still there?"}]},
            )  # fmt: skip
            await client.send(type="response.create", response={"output_modalities": ["text"]})
            events = await client.until("response.done")
        await ends.wait()
    assert [e["type"] for e in client.events].count("session.created") == 1
    assert not [e for e in client.events + events if e["type"] == "error"]
    records = list(emu.app[EMULATOR_SESSIONS].values())
    assert len(records) == 2
    assert records[0].closed
    assert records[1].session_config["model"] == "openai/gpt-5.4-mini"
    [fallback] = [e for e in logs if e["event"] == "upstream_fallback"]
    assert fallback["reason"] == "setup_error"
    assert "session.model" in fallback["detail"]
    assert fallback["variant"] == "inworld:mistral/large-2"
    [end] = [e for e in logs if e["event"] == "session_end"]
    assert (end["variant"], end["fallbacks"]) == ("inworld:openai/gpt-5.4-mini", 1)
    labels = {"route": "gpt-realtime", "provider": "inworld"}
    failed = {**labels, "variant": "inworld:mistral/large-2", "reason": "setup_error"}
    assert value(registry, "inworld_proxy_route_fallbacks_total", **failed) == 1


async def test_last_candidate_failure_reaches_the_client(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """With nothing left to try, Inworld's refusal of the model reaches the client as usual."""
    _, url = await emulator(aiohttp_server)
    toml = '[routing.routes."gpt-realtime"]\nmodel = "mistral/large-2"\n'
    server, _ = await proxy(start_proxy, routed_config(tmp_path, toml, url))
    async with session(server.make_url("/v1/realtime?model=gpt-realtime")) as client:
        [error] = await client.until("error")
    assert error["error"]["param"] == "session.model"


PASS = """
[routing.routes."*"]
variants = [{ provider = "openai", name = "direct" }]
"""


async def test_openai_passthrough_relays_bytes_with_the_configured_key(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any, fake_upstream: Any
) -> None:
    """provider=openai: frames pass byte-for-byte both ways; OpenAI gets OPENAI_API_KEY only."""
    inworld, inworld_url = await fake_upstream()
    fake, url = await fake_openai(aiohttp_server)
    server, registry = await proxy(start_proxy, routed_config(tmp_path, PASS, inworld_url, url=url))
    ends = EndedSessions(server.app)
    sent = '{"type":"conversation.item.create",  "item":{"type":"message","role":"user",' \
        '"content":[{"type":"input_text","text":"hi"}]}}'  # fmt: skip
    create = '{"type": "response.create"}'
    async with aiohttp.ClientSession() as http:
        target = server.make_url("/v1/realtime?model=gpt-realtime")
        headers = {"Authorization": "Bearer sk-client-key", "OpenAI-Beta": "realtime=v1"}
        async with http.ws_connect(target, headers=headers) as ws:
            frames = []
            async with asyncio.timeout(TIMEOUT):
                frames.append(await ws.receive_str())
                await ws.send_str(sent)
                await ws.send_str(create)
                for _ in TURN:
                    frames.append(await ws.receive_str())
    await ends.wait()
    assert frames == [CREATED, *TURN]
    assert fake.received == [sent, create]
    [request] = fake.requests
    assert request.headers["Authorization"] == "Bearer sk-openai-test"
    assert request.headers["OpenAI-Beta"] == "realtime=v1"
    assert request.query["model"] == "gpt-realtime"
    assert not inworld.requests  # Inworld was never dialled
    labels = {"route": "*", "variant": "direct", "provider": "openai"}
    latency = "inworld_proxy_route_turn_latency_seconds_count"
    assert value(registry, latency, role="primary", **labels) == 1
    assert (
        value(registry, "inworld_proxy_route_sessions_total", outcome="client_closed", **labels)
        == 1
    )


async def test_forward_client_key_sends_the_clients_own_key(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any, fake_upstream: Any
) -> None:
    """forward_client_key: OpenAI receives the client's Bearer key instead of the proxy's."""
    _, inworld_url = await fake_upstream()
    fake, url = await fake_openai(aiohttp_server)
    cfg = routed_config(tmp_path, PASS, inworld_url, url=url, forward_client_key=True)
    server, _ = await proxy(start_proxy, cfg)
    async with aiohttp.ClientSession() as http:
        target = server.make_url("/v1/realtime?model=gpt-realtime-mini")
        headers = {"Authorization": "Bearer sk-client-own"}
        async with http.ws_connect(target, headers=headers) as ws:
            async with asyncio.timeout(TIMEOUT):
                assert await ws.receive_str() == CREATED
    [request] = fake.requests
    assert request.headers["Authorization"] == "Bearer sk-client-own"
    assert request.query["model"] == "gpt-realtime-mini"
    assert "OpenAI-Beta" not in request.headers


MIGRATE = """
[routing.routes."gpt-realtime"]
model = "openai/gpt-5.5"
fallback = [{ provider = "openai", model = "gpt-realtime" }]
"""


async def test_handshake_refusal_falls_back_across_providers(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any, fake_upstream: Any
) -> None:
    """Inworld refuses the handshake (503): the OpenAI fallback serves, untranslated."""
    inworld, inworld_url = await fake_upstream(status=503)
    fake, url = await fake_openai(aiohttp_server)
    server, registry = await proxy(
        start_proxy, routed_config(tmp_path, MIGRATE, inworld_url, url=url)
    )
    ends = EndedSessions(server.app)
    target = server.make_url("/v1/realtime?model=gpt-realtime")
    async with aiohttp.ClientSession() as http, http.ws_connect(target) as ws:
        async with asyncio.timeout(TIMEOUT):
            assert await ws.receive_str() == CREATED
    await ends.wait()
    assert len(inworld.requests) == 1
    assert len(fake.requests) == 1
    refused = {"route": "gpt-realtime", "variant": "inworld:openai/gpt-5.5", "provider": "inworld"}
    assert value(registry, "inworld_proxy_route_fallbacks_total", reason="refused", **refused) == 1
    assert value(registry, "inworld_proxy_upstream_handshake_failures_total", status="503") == 1
    served = {"route": "gpt-realtime", "variant": "openai:gpt-realtime", "provider": "openai"}
    assert (
        value(registry, "inworld_proxy_route_sessions_total", outcome="client_closed", **served)
        == 1
    )


async def test_unrouted_sessions_are_labelled_default(stack: Any) -> None:
    """Without routes, sessions count under route=none, variant=default, provider=inworld."""
    ends = EndedSessions(stack.proxy.app)
    async with session(stack.proxy.make_url("/v1/realtime?model=gpt-realtime")) as client:
        assert client.events[-1]["type"] == "session.created"
    await ends.wait()
    labels = {"route": "none", "variant": "default", "provider": "inworld"}
    count = value(
        stack.registry, "inworld_proxy_route_sessions_total", outcome="client_closed", **labels
    )
    assert count == 1


async def test_client_key_stickiness(tmp_path: Path, aiohttp_server: Any, start_proxy: Any) -> None:
    """sticky_key=client_key: the presented key picks the variant (same key, same variant)."""
    _, url = await emulator(aiohttp_server)
    toml = AB.replace('sticky_key = "header:X-User"', 'sticky_key = "client_key"')
    cfg = routed_config(tmp_path, toml, url)
    server, _ = await proxy(start_proxy, cfg)
    route = cfg.routing.routes["gpt-realtime"]
    for key in ("sk-a", "sk-b", "sk-c", "sk-a"):
        target = server.make_url("/v1/realtime?model=gpt-realtime")
        async with session(target, headers={"Authorization": f"Bearer {key}"}) as client:
            assert client.events[-1]["session"]["model"] == choose(route, key).model


def test_route_examples_in_the_defaults_file_parse() -> None:
    """The commented route examples in defaults.toml are valid routes when uncommented."""
    text = (Path(__file__).resolve().parents[2] / "proxy" / "config" / "defaults.toml").read_text()
    block = text.split("plain Inworld model id. Examples:\n")[1].split("\n\n")[0]
    example = "\n".join(line.removeprefix("#").removeprefix(" ") for line in block.splitlines())
    routing = parse_routing({"routes": tomllib.loads(example)})
    assert set(routing.routes) == {"gpt-realtime", "*"}
    assert [v.provider for v in routing.routes["*"].variants] == ["openai", "inworld"]

"""REST passthrough: the official OpenAI SDK's chat and models calls through the proxy."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from proxy.config import Config, load
from proxy.config.routes import choose
from proxy.emulator import EmulatorSettings, create_emulator_app
from proxy.emulator.router import ROUTER_REQUESTS
from proxy.web.appkeys import LIVE_CONFIG
from tests.support.processes import start_process, stop, wait_for_event
from tests.support.stack import CREDENTIAL, KEY, SECRET

TIMEOUT = 10
ENV = {"INWORLD_API_KEY": KEY, "INWORLD_API_SECRET": SECRET, "OPENAI_API_KEY": "sk-openai-test"}
HELLO = [{"role": "user", "content": "hello router"}]


def rest_config(
    tmp_path: Path, base: str, toml: str = "", env: dict[str, str] | None = None
) -> Config:
    """Defaults + `toml`, the Router (and its catalogue) at `base`, the test credentials."""
    path = tmp_path / "proxy.toml"
    path.write_text(toml)
    cfg = load(path, {**ENV, **(env or {})})
    router = dataclasses.replace(
        cfg.router, url=f"{base}/v1", models_url=f"{base}/llm/v1alpha/models"
    )
    return dataclasses.replace(cfg, router=router)


def sdk_for(server: TestServer, key: str, clients: list[AsyncOpenAI]) -> AsyncOpenAI:
    """An OpenAI client exactly as a user points it at the proxy (closed by the fixture)."""
    client = AsyncOpenAI(base_url=str(server.make_url("/v1")), api_key=key, max_retries=0)
    clients.append(client)
    return client


@dataclasses.dataclass
class RestStack:
    emulator: TestServer
    proxy: TestServer
    clients: list[AsyncOpenAI]

    def sdk(self, key: str = "sk-local") -> AsyncOpenAI:
        """An OpenAI client exactly as a user points it at the proxy."""
        return sdk_for(self.proxy, key, self.clients)

    @property
    def requests(self) -> list[Any]:
        return self.emulator.app[ROUTER_REQUESTS]


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncOpenAI]]:
    """SDK clients a test made, closed at its end (their connection pools included)."""
    made: list[AsyncOpenAI] = []
    yield made
    for client in made:
        await client.close()


@pytest.fixture
def rest_stack(
    aiohttp_server: Any, start_proxy: Any, tmp_path: Path, clients: list[AsyncOpenAI]
) -> Any:
    """Start the emulator and a proxy whose Router is the emulator (with extra config)."""

    async def start(toml: str = "", env: dict[str, str] | None = None) -> RestStack:
        settings = EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0)
        emulator = await aiohttp_server(create_emulator_app(settings))
        base = str(emulator.make_url("")).rstrip("/")
        proxy = await start_proxy(rest_config(tmp_path, base, toml, env))
        return RestStack(emulator, proxy, clients)

    return start


async def test_chat_completion_with_the_sdk(rest_stack: Any) -> None:
    """A plain chat completion: mapped model, Basic credential, the client's key kept back."""
    stack = await rest_stack()
    async with asyncio.timeout(TIMEOUT):
        answer = await stack.sdk().chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert answer.choices[0].message.content == "You said: hello router"
    [request] = stack.requests
    assert request.body["model"] == "openai/gpt-4o-mini"
    assert request.body["messages"] == HELLO
    assert request.headers["Authorization"] == f"Basic {CREDENTIAL}"
    assert "sk-local" not in str(dict(request.headers))


async def test_streaming_chat_completion_with_the_sdk(rest_stack: Any) -> None:
    """stream=True: SSE chunks arrive through the proxy and assemble to the emulator's answer."""
    stack = await rest_stack()
    client = stack.sdk()
    chunks = []
    async with asyncio.timeout(TIMEOUT):
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            chunks.append(chunk)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: hello router"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4
    assert stack.requests[0].body["stream"] is True


async def test_openai_names_are_mapped_not_refused(rest_stack: Any) -> None:
    """The emulated Router refuses `gpt-4o` itself; through the proxy, models.map decides."""
    stack = await rest_stack('[models.map]\n"gpt-4o" = "anthropic/claude-sonnet-4-6"\n')
    direct = AsyncOpenAI(
        base_url=str(stack.emulator.make_url("/v1")),
        api_key="unused",
        default_headers={"Authorization": f"Basic {CREDENTIAL}"},
        max_retries=0,
    )
    stack.clients.append(direct)
    with pytest.raises(openai.BadRequestError):
        await direct.chat.completions.create(model="gpt-4o", messages=HELLO)
    answer = await stack.sdk().chat.completions.create(model="gpt-4o", messages=HELLO)
    assert answer.model == "anthropic/claude-sonnet-4-6"
    assert [r.body["model"] for r in stack.requests] == ["anthropic/claude-sonnet-4-6"]


async def test_rest_variants_follow_the_sticky_chooser(rest_stack: Any) -> None:
    """A weighted route on REST: each `user` gets the variant the chooser names for it."""
    stack = await rest_stack(
        '[routing]\nsticky_key = "session"\n[routing.routes."gpt-4o"]\n'
        'variants = [{model = "openai/gpt-4.1-mini", name = "a"},'
        ' {model = "groq/llama-3.3-70b-versatile", name = "b"}]\n'
    )
    cfg = stack.proxy.app[LIVE_CONFIG].config
    route = cfg.routing.routes["gpt-4o"]
    users = [f"u{n}" for n in range(10)]
    for user in users:
        await stack.sdk().chat.completions.create(model="gpt-4o", messages=HELLO, user=user)
    assert [r.body["model"] for r in stack.requests] == [choose(route, u).model for u in users]
    assert {choose(route, u).name for u in users} == {"a", "b"}


async def test_rest_falls_back_from_a_refusing_openai_variant(
    rest_stack: Any, aiohttp_server: Any
) -> None:
    """An OpenAI variant answering 503 is passed over for the Inworld fallback."""
    seen: list[web.Request] = []

    async def refuse(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"error": {"message": "overloaded"}}, status=503)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", refuse)
    fake = await aiohttp_server(app)
    stack = await rest_stack(
        '[routing.routes."gpt-4o"]\nprovider = "openai"\nfallback = ["openai/gpt-4.1-mini"]\n'
        f'[providers.openai]\nrest_url = "{fake.make_url("/v1")}"\n'
    )
    answer = await stack.sdk().chat.completions.create(model="gpt-4o", messages=HELLO)
    assert answer.choices[0].message.content == "You said: hello router"
    [request] = seen
    assert request.headers["Authorization"] == "Bearer sk-openai-test"
    assert [r.body["model"] for r in stack.requests] == ["openai/gpt-4.1-mini"]


async def test_sse_is_relayed_without_buffering(
    aiohttp_server: Any, start_proxy: Any, tmp_path: Path, clients: list[AsyncOpenAI]
) -> None:
    """The first chunk reaches the SDK while the Router still holds back the rest."""
    gate = asyncio.Event()

    async def router(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = (
            '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
            '"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}'
        )
        await response.write(f"data: {chunk % 'first'}\n\n".encode())
        await gate.wait()  # only once the client has the first chunk
        await response.write(f"data: {chunk % ' second'}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", router)
    fake = await aiohttp_server(app)
    base = str(fake.make_url("")).rstrip("/")
    proxy = await start_proxy(rest_config(tmp_path, base))
    client = sdk_for(proxy, "k", clients)
    texts = []
    async with asyncio.timeout(TIMEOUT):
        stream = await client.chat.completions.create(model="m/x", messages=HELLO, stream=True)
        async for chunk in stream:
            texts.append(chunk.choices[0].delta.content)
            gate.set()
    assert texts == ["first", " second"]


async def test_models_list_and_retrieve(rest_stack: Any) -> None:
    """/v1/models: configured names first, then the Inworld catalogue as provider/model ids."""
    stack = await rest_stack('[routing.routes."my-voice-bot"]\nmodel = "openai/gpt-5.4"\n')
    client = stack.sdk()
    ids = [m.id async for m in client.models.list()]
    assert ids.index("gpt-realtime") < ids.index("openai/gpt-4o-mini")
    assert {"my-voice-bot", "anthropic/claude-sonnet-4-6", "groq/llama-3.3-70b-versatile"} <= set(
        ids
    )
    assert "*" not in ids
    model = await client.models.retrieve("my-voice-bot")
    assert model.owned_by == "inworld-realtime-proxy"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("nope")


async def test_models_list_without_a_catalogue(
    start_proxy: Any, tmp_path: Path, clients: list[AsyncOpenAI]
) -> None:
    """When the catalogue does not answer, the configured names are listed all the same."""
    cfg = rest_config(tmp_path, "http://127.0.0.1:9")  # nothing listens on port 9
    proxy = await start_proxy(cfg)
    client = sdk_for(proxy, "k", clients)
    ids = [m.id async for m in client.models.list()]
    assert ids == sorted(cfg.rules.model_map)


async def test_rest_is_guarded_and_can_be_switched_off(rest_stack: Any) -> None:
    """Client keys guard REST; router.enabled = false answers 404; bad JSON answers 400."""
    stack = await rest_stack(env={"PROXY_API_KEYS": "good-key"})
    with pytest.raises(openai.AuthenticationError):
        await stack.sdk("bad-key").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    answer = await stack.sdk("good-key").chat.completions.create(
        model="gpt-4o-mini", messages=HELLO
    )
    assert answer.choices[0].message.content == "You said: hello router"
    async with aiohttp.ClientSession() as http:
        url = stack.proxy.make_url("/v1/chat/completions")
        async with http.post(url, data=b"{", headers={"Authorization": "Bearer good-key"}) as r:
            assert r.status == 400
    off = await rest_stack("[router]\nenabled = false\n")
    with pytest.raises(openai.NotFoundError):
        await off.sdk().chat.completions.create(model="gpt-4o-mini", messages=HELLO)


async def test_emulator_process_serves_the_router(clients: list[AsyncOpenAI]) -> None:
    """`serve --emulator` points the REST passthrough at the in-process emulated Router."""
    process = await start_process("--emulator", "--port", "0")
    try:
        listening = await wait_for_event(process, "listening")
        base = listening["url"].replace("ws://", "http://").removesuffix("/realtime")
        client = AsyncOpenAI(base_url=base, api_key="sk-demo", max_retries=0)
        clients.append(client)
        async with asyncio.timeout(TIMEOUT):
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=HELLO, stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream])
            ids = [m.id async for m in client.models.list()]
        assert text == "You said: hello router"
        assert "openai/gpt-4o-mini" in ids
    finally:
        code = await stop(process)
    assert code == 0

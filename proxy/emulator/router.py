"""The emulated Inworld Router (OpenAI-compatible REST, docs/protocol-notes.md#inworld-router),
for tests and demos (docs/emulator.md#the-emulated-router).

- ``POST /v1/chat/completions``: ``Authorization`` checked like the realtime endpoint
  (``auth.authenticate``); the ``model`` must be routable on Inworld (``catalog``), so OpenAI
  names such as ``gpt-4o`` are refused with 400, as are requests without ``messages``. The
  answer is deterministic: ``"You said: <last user text>"`` (a greeting without one), as a
  ``chat.completion`` with usage and ``metadata.attempts``, or with ``"stream": true`` as SSE
  ``chat.completion.chunk`` events (role, one per word, finish, optional usage with
  ``stream_options.include_usage``) ending with ``data: [DONE]``. Chunks are paced by
  ``response_pace``.
- ``GET /llm/v1alpha/models``: the catalogue (``{"models": [...]}``, same section) built from
  ``catalog.KNOWN_BARE_LLMS``.

Tests read ``app[ROUTER_REQUESTS]``: every accepted request's headers and body.
"""

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from .auth import AuthError, authenticate
from .catalog import KNOWN_BARE_LLMS, is_routable_llm
from .settings import EmulatorSettings

__all__ = ["CATALOG_PATH", "CHAT_PATH", "ROUTER_REQUESTS", "RouterRequest", "add_router_routes"]

CHAT_PATH = "/v1/chat/completions"
CATALOG_PATH = "/llm/v1alpha/models"


@dataclass(frozen=True, slots=True)
class RouterRequest:
    """One accepted chat request, as received."""

    headers: CIMultiDictProxy[str]
    body: dict[str, Any]


ROUTER_REQUESTS = web.AppKey("emulator_router_requests", list[RouterRequest])
_SETTINGS = web.AppKey("emulator_router_settings", EmulatorSettings)


def add_router_routes(app: web.Application, settings: EmulatorSettings) -> None:
    """Serve the Router endpoints on the emulator's application."""
    app[_SETTINGS] = settings
    app[ROUTER_REQUESTS] = []
    app.router.add_post(CHAT_PATH, _chat)
    app.router.add_get(CATALOG_PATH, _catalog)


def _error(status: int, grpc_status: str, message: str) -> web.Response:
    body = {"error": {"code": status, "status": grpc_status, "message": message}}
    return web.json_response(body, status=status, dumps=lambda o: orjson.dumps(o).decode())


def _provider(model: str) -> str:
    """The provider serving a bare catalogue id (emulator's guess, by name)."""
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith("gemini"):
        return "google-ai-studio"
    if model.startswith(("llama", "gpt-oss")):
        return "groq"
    return "openai"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        ).strip()
    return ""


def reply_for(messages: list[Any]) -> str:
    """The deterministic answer to a conversation."""
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    said = _text(users[-1].get("content")) if users else ""
    return f"You said: {said}" if said else "Hello! How can I help you today?"


def _check(request: web.Request, body: Any) -> web.Response | None:
    if not isinstance(body, dict):
        return _error(400, "INVALID_ARGUMENT", "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _error(400, "INVALID_ARGUMENT", "Field 'model' is required.")
    providers = request.app[_SETTINGS].extra_llm_providers
    if model != "auto" and not is_routable_llm(model, providers):
        return _error(400, "INVALID_ARGUMENT", f"Model '{model}' is not supported by the router.")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return _error(400, "INVALID_ARGUMENT", "Field 'messages' must be a non-empty list.")
    return None


async def _chat(request: web.Request) -> web.StreamResponse:
    settings = request.app[_SETTINGS]
    try:
        authenticate(request.headers.get(hdrs.AUTHORIZATION), (), settings)
    except AuthError as exc:
        return _error(401, "UNAUTHENTICATED", exc.message)
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error(400, "INVALID_ARGUMENT", "The request body is not valid JSON.")
    refusal = _check(request, body)
    if refusal is not None:
        return refusal
    request.app[ROUTER_REQUESTS].append(
        RouterRequest(CIMultiDictProxy(CIMultiDict(request.headers)), body)
    )
    model = body["model"] if body["model"] != "auto" else "openai/gpt-4.1-mini"
    text = reply_for(body["messages"])
    prompt = sum(
        len(_text(m.get("content")).split()) for m in body["messages"] if isinstance(m, dict)
    )
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": len(text.split()),
        "total_tokens": prompt + len(text.split()),
    }
    ident = "chatcmpl-" + hashlib.sha256(orjson.dumps(body)).hexdigest()[:24]
    base = {"id": ident, "created": int(time.time()), "model": model}
    if body.get("stream"):
        return await _stream(request, base, text, usage, body, settings.response_pace)
    provider, _, name = model.rpartition("/")
    return web.json_response(
        {
            **base,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
            "metadata": {
                "attempts": [
                    {
                        "provider": provider or _provider(name),
                        "model": name,
                        "status": "success",
                        "latencyMs": 1,
                    }
                ]
            },
        },
        dumps=lambda o: orjson.dumps(o).decode(),
    )


async def _stream(
    request: web.Request,
    base: dict[str, Any],
    text: str,
    usage: dict[str, int],
    body: dict[str, Any],
    pace: float,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**base, "object": "chat.completion.chunk", "choices": [choice]}

    words = text.split(" ")
    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
    events.append(chunk({}, "stop"))
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        events.append({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    for event in events:
        await response.write(b"data: " + orjson.dumps(event) + b"\n\n")
        await asyncio.sleep(pace)  # 0 still yields, so chunks leave one by one
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _catalog(request: web.Request) -> web.Response:
    try:
        authenticate(request.headers.get(hdrs.AUTHORIZATION), (), request.app[_SETTINGS])
    except AuthError as exc:
        return _error(401, "UNAUTHENTICATED", exc.message)
    models = [
        {"model": name, "provider": _provider(name), "modelCreator": _provider(name)}
        | {"isSupported": True}
        for name in sorted(KNOWN_BARE_LLMS)
    ]
    return web.json_response({"models": models})

"""REST passthrough to Inworld's OpenAI-compatible Router (`docs/protocol-notes.md#inworld-router`).

- `POST /v1/chat/completions` goes to `<router.url>/chat/completions` with `Authorization:
  Basic <the Inworld credential>` (the client's own headers are not forwarded, except
  `Content-Type` and `Accept`), the body unchanged but for `model`, mapped like a realtime
  session's: a route (`[routing.routes]`, sticky by the configured key, then the request's
  `user`, else random) picks a variant; otherwise `[models.map]`; otherwise a bare name gets
  `router.model_prefix`. A variant with `provider = "openai"` sends the request to
  `providers.openai.rest_url` with the OpenAI key instead. The answer (JSON, or an SSE stream
  with `"stream": true`) is relayed chunk by chunk as it arrives, never buffered. A refused
  attempt (connection error, 429 or 5xx) moves on to the route's fallback list while nothing
  has been sent to the client yet.
- `GET /v1/models`: Inworld serves no `/v1/models`, so the proxy answers an OpenAI-shaped list
  itself: the configured names (routes and `[models.map]`), then the Inworld catalogue
  (`router.models_url`, ids as `provider/model`) when it answers. `GET /v1/models/{id}` finds
  one entry of that list.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import orjson
import structlog
from aiohttp import web

from proxy.config import Config, Rules
from proxy.config.routes import CATCH_ALL, Variant, candidates, find_route, sticky_value
from proxy.metrics.routes import RouteLabels, status_class
from proxy.upstream.openai import openai_key
from proxy.web.appkeys import HTTP, LIVE_CONFIG, LOGGER, ROUTE_METRICS
from proxy.web.auth import presented_credential
from proxy.web.guard import json_error

__all__ = ["chat_completions", "get_model", "list_models", "rest_model"]

_FORWARD_REQUEST = ("Content-Type", "Accept")
_FORWARD_RESPONSE = ("Content-Type", "Cache-Control", "Retry-After", "X-Request-Id")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def rest_model(rules: Rules, prefix: str, name: str) -> str:
    """The Inworld Router model for a REST model name without a route (see module doc)."""
    if name in rules.model_map:
        return rules.model_map[name]
    if "/" in name or name == "auto":
        return name
    return f"{prefix}{name}"


def _attempts(
    cfg: Config, request: web.Request, body: dict[str, Any], name: str | None
) -> tuple[RouteLabels, list[tuple[RouteLabels, Variant | None]]]:
    route = find_route(cfg.routing, name)
    if route is None:
        return RouteLabels(), [(RouteLabels(), None)]
    user = body.get("user") if isinstance(body.get("user"), str) else None
    key = sticky_value(
        cfg.routing,
        client_key=presented_credential(request.headers, ()),
        headers=request.headers,
        fallback=user or uuid.uuid4().hex,
    )
    chosen = candidates(route, key, cfg.routing.salt)
    out: list[tuple[RouteLabels, Variant | None]] = [
        (RouteLabels(route.name, v.name, v.provider), v) for v in chosen
    ]
    return out[0][0], out


def _target(
    cfg: Config, request: web.Request, name: str | None, variant: Variant | None
) -> tuple[str, dict[str, str], str | None] | None:
    """(URL, headers, model) for one attempt; None when it has no credential."""
    headers = {h: request.headers[h] for h in _FORWARD_REQUEST if h in request.headers}
    if variant is not None and variant.provider == "openai":
        key = openai_key(cfg.openai, presented_credential(request.headers, ()))
        if key is None:
            return None
        headers["Authorization"] = f"Bearer {key}"
        return f"{cfg.openai.rest_url}/chat/completions", headers, variant.model or name
    if cfg.upstream.credential is None:
        return None
    headers["Authorization"] = f"Basic {cfg.upstream.credential}"
    if variant is not None:
        model: str | None = variant.model
    else:
        model = None if name is None else rest_model(cfg.rules, cfg.router.model_prefix, name)
    return f"{cfg.router.url}/chat/completions", headers, model


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """Forward one chat completion (streamed or not) to the Router."""
    cfg = request.app[LIVE_CONFIG].config
    if not cfg.router.enabled:
        return json_error(404, "not_found", "REST passthrough is off (router.enabled).")
    try:
        body = orjson.loads(await request.read())
        orjson.dumps(body)  # what goes upstream must serialise: orjson nests at most 254 deep
    except orjson.JSONDecodeError:
        return json_error(400, "invalid_json", "The request body is not valid JSON.")
    except orjson.JSONEncodeError:
        return json_error(400, "invalid_json", "The request body is nested too deeply.")
    if not isinstance(body, dict):
        return json_error(400, "invalid_type", "The request body must be a JSON object.")
    name = body.get("model") if isinstance(body.get("model"), str) else None
    labels, attempts = _attempts(cfg, request, body, name)
    log = request.app[LOGGER]
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=cfg.router.connect_timeout, sock_read=cfg.router.read_timeout
    )
    failure = json_error(502, "upstream_unavailable", "No upstream accepted the request.")
    for index, (labels, variant) in enumerate(attempts):
        final = index == len(attempts) - 1
        target = _target(cfg, request, name, variant)
        if target is None:
            failure = json_error(502, "upstream_unauthorized", "No credential for the upstream.")
            continue
        url, headers, model = target
        data = orjson.dumps(body if model is None else {**body, "model": model})
        try:
            upstream = await request.app[HTTP].post(
                url, data=data, headers=headers, timeout=timeout
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("rest_upstream_failed", detail=type(exc).__name__, **_fields(labels))
            continue
        if upstream.status in _RETRY_STATUSES and not final:
            upstream.release()
            log.warning("rest_fallback", status=upstream.status, **_fields(labels))
            continue
        _count(request, labels, upstream.status)
        log.info(
            "rest_request",
            endpoint="chat_completions",
            model=name,
            upstream_model=model,
            status=upstream.status,
            **_fields(labels),
        )
        return await _relay(request, upstream)
    _count(request, labels, failure.status)
    return failure


def _fields(labels: RouteLabels) -> dict[str, str]:
    route, variant, provider = labels.values()
    return {"route": route, "variant": variant, "provider": provider}


def _count(request: web.Request, labels: RouteLabels, status: int) -> None:
    metric = request.app[ROUTE_METRICS].rest_requests
    metric.labels("chat_completions", *labels.values(), status_class(status)).inc()


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    """Relay status, a few headers and the body, chunk by chunk as each arrives."""
    headers = {h: upstream.headers[h] for h in _FORWARD_RESPONSE if h in upstream.headers}
    response = web.StreamResponse(status=upstream.status, headers=headers)
    try:
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
    except (ConnectionError, aiohttp.ClientError, TimeoutError):
        upstream.close()  # either side went away mid-answer: drop the upstream connection
    finally:
        upstream.release()
    return response


async def _catalogue(request: web.Request, cfg: Config) -> list[dict[str, Any]]:
    """The Inworld catalogue as OpenAI model objects; empty when it does not answer."""
    if not cfg.router.models_url or cfg.upstream.credential is None:
        return []
    log: structlog.typing.FilteringBoundLogger = request.app[LOGGER]
    timeout = aiohttp.ClientTimeout(
        total=cfg.router.read_timeout, sock_connect=cfg.router.connect_timeout
    )
    headers = {"Authorization": f"Basic {cfg.upstream.credential}"}
    try:
        async with request.app[HTTP].get(
            cfg.router.models_url, headers=headers, timeout=timeout
        ) as answer:
            if answer.status != 200:
                log.warning("models_catalogue_unavailable", status=answer.status)
                return []
            listing = orjson.loads(await answer.read())
    except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
        log.warning("models_catalogue_unavailable", detail=type(exc).__name__)
        return []
    out = []
    items = listing.get("models") if isinstance(listing, dict) else None
    for item in items if isinstance(items, list) else []:
        model, provider = item.get("model"), item.get("provider") or "inworld"
        if isinstance(model, str) and model:
            ident = model if "/" in model else f"{provider}/{model}"
            out.append({"id": ident, "object": "model", "created": 0, "owned_by": provider})
    return out


async def _models(request: web.Request) -> list[dict[str, Any]] | web.Response:
    cfg = request.app[LIVE_CONFIG].config
    if not cfg.router.enabled:
        return json_error(404, "not_found", "REST passthrough is off (router.enabled).")
    names = sorted((set(cfg.routing.routes) - {CATCH_ALL}) | set(cfg.rules.model_map))
    listed = [
        {"id": n, "object": "model", "created": 0, "owned_by": "inworld-realtime-proxy"}
        for n in names
    ]
    seen = set(names)
    for entry in await _catalogue(request, cfg):
        if entry["id"] not in seen:
            seen.add(entry["id"])
            listed.append(entry)
    return listed


async def list_models(request: web.Request) -> web.Response:
    """`GET /v1/models`: configured names, then Inworld's catalogue."""
    models = await _models(request)
    if isinstance(models, web.Response):
        return models
    return web.json_response({"object": "list", "data": models})


async def get_model(request: web.Request) -> web.Response:
    """`GET /v1/models/{model}`: one entry of the list, or 404."""
    models = await _models(request)
    if isinstance(models, web.Response):
        return models
    wanted = request.match_info["model"]
    for entry in models:
        if entry["id"] == wanted:
            return web.json_response(entry)
    return json_error(404, "model_not_found", f"The model '{wanted}' does not exist.")

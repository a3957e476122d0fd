"""Application wiring: routes, typed state, lifecycle. No logic lives here."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from proxy.config import Config
from proxy.metrics.collectors import Metrics
from proxy.metrics.routes import RouteMetrics
from proxy.web.admission import Admission
from proxy.web.appkeys import (
    ADMISSION,
    CAPS,
    CONFIG,
    HTTP,
    LIFECYCLE,
    LIVE_CONFIG,
    LOGGER,
    METRICS,
    ROUTE_METRICS,
    SESSIONS,
    TOKEN_SECRET,
    UNFINISHED,
    UPSTREAM_TLS,
    Lifecycle,
    LiveConfig,
)
from proxy.web.calls import add_call_routes
from proxy.web.caps import SessionCaps
from proxy.web.client_secrets import beta_sessions, client_secrets, demo_page
from proxy.web.guard import guard
from proxy.web.live import add_live_routes
from proxy.web.realtime import realtime_handler
from proxy.web.router_rest import chat_completions, get_model, list_models
from proxy.ws.budget import Budget

__all__ = ["create_app"]


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    """One upstream HTTP client per process, closed on shutdown.

    `limit=0`: each upstream WebSocket holds its connection for the whole session, so the
    connector's default pool limit (100) would cap the proxy at 100 concurrent sessions (the
    101st dial waits for a free slot until `upstream.connect_timeout`). WebSocket connections
    are never pooled; `force_close` also drops the connection of a refused handshake instead
    of keeping it idle in the pool.
    """
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    app[HTTP] = aiohttp.ClientSession(connector=connector)
    app[LIFECYCLE].accepting = True
    yield
    app[LIFECYCLE].accepting = False
    await app[HTTP].close()


async def _close_sessions(app: web.Application) -> None:
    """On shutdown, end every session with 1001 (going away), all at once, bounded.

    Each relay closes the upstream, then the client, each within `close_timeout`.
    """
    for relay in app[SESSIONS]:
        relay.shut_down()
    if app[SESSIONS]:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2 * app[CONFIG].limits.close_timeout + 1):
                await app[LIFECYCLE].idle.wait()


async def _preflight(_: web.Request) -> web.Response:
    return web.Response(status=204)  # the guard answers preflights; this only routes them


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    """Ready: start-up done (configuration loaded, upstream client up), not draining."""
    lifecycle = request.app[LIFECYCLE]
    if lifecycle.draining:
        return web.json_response({"status": "draining"}, status=503)
    if not lifecycle.accepting:
        return web.json_response({"status": "starting"}, status=503)
    return web.json_response({"status": "ready", "config": "loaded"})


def create_app(
    cfg: Config,
    *,
    registry: CollectorRegistry,
    logger: structlog.typing.FilteringBoundLogger,
) -> web.Application:
    """Build the proxy application from its configuration, metrics registry and logger."""
    app = web.Application(middlewares=[guard])
    app[CONFIG] = cfg
    app[TOKEN_SECRET] = cfg.tokens.signing_secret or secrets.token_bytes(32)
    app[METRICS] = Metrics(registry)
    app[LIVE_CONFIG] = LiveConfig(cfg)  # what sessions and REST read; swapped on SIGHUP
    app[ROUTE_METRICS] = RouteMetrics(registry)
    app[LOGGER] = logger
    app[SESSIONS] = set()
    app[UPSTREAM_TLS] = ssl.create_default_context()  # one CA store load, not one per dial
    app[LIFECYCLE] = Lifecycle()
    app[ADMISSION] = Admission(cfg.limits, app[METRICS].connections_refused_by)
    app[CAPS] = SessionCaps()
    app[UNFINISHED] = Budget(cfg.limits.max_unfinished_bytes)  # limit updated per session
    app.cleanup_ctx.append(_http_client)
    app.on_shutdown.append(_close_sessions)
    app.router.add_get("/v1/realtime", realtime_handler)
    app.router.add_get("/realtime", realtime_handler)
    add_call_routes(app)  # WebRTC signalling (the optional `webrtc` extra: proxy.web.calls)
    add_live_routes(app, cfg)  # OpenAI Live clients: /v1/live/sessions (proxy.web.live)
    for path, handler in (
        ("/v1/realtime/client_secrets", client_secrets),
        ("/v1/realtime/sessions", beta_sessions),
    ):
        app.router.add_post(path, handler)
        app.router.add_route("OPTIONS", path, _preflight)
    app.router.add_post("/v1/chat/completions", chat_completions)  # REST passthrough
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model:.+}", get_model)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", make_aiohttp_handler(registry))
    if cfg.server.demo_page:
        app.router.add_get("/", demo_page)
    return app

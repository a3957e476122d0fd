"""Application wiring: routes, typed state, lifecycle. No logic lives here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import WSCloseCode, web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from proxy.appkeys import CONFIG, HTTP, LIFECYCLE, LOGGER, METRICS, SOCKETS, Lifecycle
from proxy.config import Config
from proxy.flow import close_within
from proxy.metrics import Metrics
from proxy.session import realtime_handler

__all__ = ["create_app"]


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    """One upstream HTTP client per process, closed on shutdown.

    WebSocket connections are never pooled; `force_close` also drops the connection of a
    refused handshake instead of keeping it idle in the pool.
    """
    app[HTTP] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
    yield
    await app[HTTP].close()


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, close every client socket with 1001 (going away), all at once, bounded."""
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    timeout = app[CONFIG].limits.close_timeout
    await asyncio.gather(
        *(
            close_within(ws, WSCloseCode.GOING_AWAY, "proxy shutting down", timeout)
            for ws in sockets
        )
    )


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    if request.app[LIFECYCLE].draining:
        return web.json_response({"status": "draining"}, status=503)
    return web.json_response({"status": "ready"})


def create_app(
    cfg: Config,
    *,
    registry: CollectorRegistry,
    logger: structlog.typing.FilteringBoundLogger,
) -> web.Application:
    """Build the proxy application from its configuration, metrics registry and logger."""
    app = web.Application()
    app[CONFIG] = cfg
    app[METRICS] = Metrics(registry)
    app[LOGGER] = logger
    app[SOCKETS] = set()
    app[LIFECYCLE] = Lifecycle()
    app.cleanup_ctx.append(_http_client)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/v1/realtime", realtime_handler)
    app.router.add_get("/realtime", realtime_handler)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", make_aiohttp_handler(registry))
    return app

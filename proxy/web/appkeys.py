"""Typed application state keys (`web.AppKey`): no module-level singletons anywhere."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
import structlog
from aiohttp import web

from proxy.config import Config
from proxy.metrics.collectors import Metrics
from proxy.metrics.routes import RouteMetrics
from proxy.web.admission import Admission
from proxy.web.caps import SessionCaps
from proxy.ws.budget import Budget

__all__ = [
    "ADMISSION",
    "CAPS",
    "CONFIG",
    "HTTP",
    "LIFECYCLE",
    "LIVE_CONFIG",
    "LOGGER",
    "METRICS",
    "ROUTE_METRICS",
    "SESSIONS",
    "TOKEN_SECRET",
    "UNFINISHED",
    "UPSTREAM_TLS",
    "Lifecycle",
    "LiveConfig",
    "LiveSession",
]


class LiveSession(Protocol):
    """A live session as the app sees it: a WebSocket `proxy.session.relay.Relay` or a WebRTC
    call (`proxy.webrtc.call.Call`); both count against `limits.max_sessions`."""

    def shut_down(self, code: int = 1001, reason: str = "proxy shutting down") -> None:
        """End the session from outside (drain, shutdown)."""


@dataclass(slots=True)
class Lifecycle:
    """Process-wide serving state, read by /readyz and by new connections."""

    draining: bool = False  # set on SIGTERM: /readyz answers 503, new sessions are refused
    accepting: bool = False  # set once start-up is done (config loaded, upstream client up)
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # set while no session is open


@dataclass(slots=True)
class LiveConfig:
    """The configuration new sessions and REST requests use; swapped on SIGHUP.

    A session reads `config` once, when it starts, and keeps that snapshot to its end.
    `generation` counts successful loads (1 at start).
    """

    config: Config
    generation: int = 1


CONFIG = web.AppKey("config", Config)
METRICS = web.AppKey("metrics", Metrics)
LOGGER = web.AppKey("logger", structlog.typing.FilteringBoundLogger)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SESSIONS = web.AppKey("sessions", set[LiveSession])  # live sessions (for drain and shutdown)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
TOKEN_SECRET = web.AppKey("token_secret", bytes)  # signs ephemeral client tokens
LIVE_CONFIG = web.AppKey("live_config", LiveConfig)  # reloadable rules (proxy.web.reload)
ROUTE_METRICS = web.AppKey("route_metrics", RouteMetrics)
UPSTREAM_TLS = web.AppKey("upstream_tls", ssl.SSLContext)  # verifies wss:// upstreams
ADMISSION = web.AppKey("admission", Admission)  # connections not yet authenticated
CAPS = web.AppKey("caps", SessionCaps)  # live sessions per client key and per token
# bytes of unfinished WebSocket messages all sessions hold (limits.max_unfinished_bytes)
UNFINISHED = web.AppKey("unfinished", Budget)

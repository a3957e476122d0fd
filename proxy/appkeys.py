"""Typed application state keys (`web.AppKey`): no module-level singletons anywhere."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import structlog
from aiohttp import web

from proxy.config import Config
from proxy.metrics import Metrics

__all__ = [
    "CONFIG",
    "HTTP",
    "LIFECYCLE",
    "LOGGER",
    "METRICS",
    "SOCKETS",
    "TOKEN_SECRET",
    "Lifecycle",
]


@dataclass(slots=True)
class Lifecycle:
    """Process-wide serving state, read by /readyz and by new connections."""

    draining: bool = False  # set on SIGTERM: /readyz answers 503, new sessions are refused
    accepting: bool = False  # set once start-up is done (config loaded, upstream client up)


CONFIG = web.AppKey("config", Config)
METRICS = web.AppKey("metrics", Metrics)
LOGGER = web.AppKey("logger", structlog.typing.FilteringBoundLogger)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
TOKEN_SECRET = web.AppKey("token_secret", bytes)  # signs ephemeral client tokens

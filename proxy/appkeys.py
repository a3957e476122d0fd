"""Typed application state keys (`web.AppKey`): no module-level singletons anywhere."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
import structlog
from aiohttp import web

from proxy.config import Config
from proxy.metrics import Metrics

__all__ = ["CONFIG", "HTTP", "LIFECYCLE", "LOGGER", "METRICS", "SOCKETS", "Lifecycle"]


@dataclass(slots=True)
class Lifecycle:
    """Process-wide serving state, read by /readyz and by new connections."""

    draining: bool = False  # set on SIGTERM: /readyz answers 503, new sessions are refused
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # set while no session is open


CONFIG = web.AppKey("config", Config)
METRICS = web.AppKey("metrics", Metrics)
LOGGER = web.AppKey("logger", structlog.typing.FilteringBoundLogger)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)

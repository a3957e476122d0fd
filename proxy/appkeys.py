"""Typed application state keys (`web.AppKey`): no module-level singletons anywhere."""

from __future__ import annotations

import aiohttp
import structlog
from aiohttp import web

from proxy.config import Config
from proxy.metrics import Metrics

__all__ = ["CONFIG", "HTTP", "LOGGER", "METRICS", "SOCKETS"]

CONFIG = web.AppKey("config", Config)
METRICS = web.AppKey("metrics", Metrics)
LOGGER = web.AppKey("logger", structlog.typing.FilteringBoundLogger)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])

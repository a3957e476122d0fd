"""structlog configuration: the one place logging is set up, and the redaction it applies.

JSON lines on stdout by default, readable console output on a TTY (`logging.format = auto`).
Credentials never reach a log: `redact` masks known secret fields and any value that looks like
a bearer/basic credential, and the aiohttp warning that would print a browser's offered
sub-protocols (`openai-insecure-api-key.<key>`) is suppressed.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from proxy.config import LoggingConfig

__all__ = ["configure_logging", "redact"]

_SECRET_KEYS = frozenset(
    {"authorization", "api_key", "api_secret", "credential", "password", "secret", "token"}
)
_SECRET_VALUE = re.compile(
    r"(?i)(bearer\s+|basic\s+|openai-insecure-api-key\.|basic_)[A-Za-z0-9._~+/=-]+"
)


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named fields and credential-shaped substrings."""
    for key, value in event_dict.items():
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(value, str) and _SECRET_VALUE.search(value):
            event_dict[key] = _SECRET_VALUE.sub(r"\1[redacted]", value)
    return event_dict


class _NoProtocolListFilter(logging.Filter):
    """Drop aiohttp's "Client protocols ... don't overlap" warning: it lists offered keys."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("%s: Client protocols")


def configure_logging(cfg: LoggingConfig) -> None:
    """Configure structlog (and route stdlib `logging`, aiohttp's included, to stdout)."""
    level = logging.getLevelNamesMapping()[cfg.level.upper()]
    console = cfg.format == "console" or (cfg.format == "auto" and sys.stdout.isatty())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    if console:
        renderer: structlog.typing.Processor = structlog.dev.ConsoleRenderer()
        factory: Any = structlog.PrintLoggerFactory()
    else:
        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        factory = structlog.BytesLoggerFactory()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(_NoProtocolListFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.INFO) if level > logging.DEBUG else level)
    logging.getLogger("aiohttp.websocket").addFilter(_NoProtocolListFilter())

"""structlog configuration: the one place logging is set up, and the redaction it applies.

JSON lines on stdout by default, readable console output on a TTY (`logging.format = auto`).
Standard-library records (aiohttp's own messages and its access log, see `AccessLogger`) go
through the same processors and renderer, so every line on stdout has one shape.

Credentials never reach a log: `Redactor` masks secret-named fields, credential-shaped
substrings (`Bearer ...`, `Basic ...`, `sk-...`, `ek_...`, `openai-insecure-api-key.<key>`)
and the configured secret values themselves, at any depth; audio payload fields are replaced
by their size. The aiohttp warning that would print a browser's offered sub-protocols is
suppressed.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import orjson
import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from proxy.config import LoggingConfig

__all__ = ["AccessLogger", "Redactor", "configure_logging", "line_processors", "redact"]

_SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api_key",
        "api-key",
        "apikey",
        "x-api-key",
        "api_secret",
        "inworld_api_key",
        "inworld_api_secret",
        "client_secret",
        "credential",
        "password",
        "secret",
        "token",
        "access_token",
    }
)
_PAYLOAD_KEYS = frozenset({"audio", "delta"})  # base64 audio (and deltas): never logged
_SECRET_VALUE = re.compile(
    r"(?i)(bearer\s+|basic\s+|openai-insecure-api-key\.|basic_)[A-Za-z0-9._~+/=-]+"
    r"|(?<![A-Za-z0-9])(sk-|ek_)[A-Za-z0-9_-]{8,}"
)
_MIN_SECRET = 8  # configured secrets shorter than this are not searched for in free text
_MAX_DEPTH = 4


def _mask(match: re.Match[str]) -> str:
    return f"{match.group(1) or match.group(2)}[redacted]"


class Redactor:
    """structlog processor: masks credentials anywhere in an event (see the module docstring).

    Args:
        secrets: exact values to mask wherever they appear (the configured Inworld key,
            secret and credential); values shorter than 8 characters are ignored.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, values))) if values else None

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            event_dict[key] = self._clean(key, value, 0)
        return event_dict

    def _clean(self, key: object, value: Any, depth: int) -> Any:
        if isinstance(key, str):
            name = key.lower()
            if name in _SECRET_KEYS:
                return "[redacted]"
            if name in _PAYLOAD_KEYS and isinstance(value, str) and len(value) > 64:
                return f"[{len(value)} chars omitted]"
        if isinstance(value, str):
            return self._text(value)
        if depth >= _MAX_DEPTH:
            return value
        if isinstance(value, dict):
            return {k: self._clean(k, v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(None, v, depth + 1) for v in value]
        return value

    def _text(self, value: str) -> str:
        if self._secrets is not None:
            value = self._secrets.sub("[redacted]", value)
        return _SECRET_VALUE.sub(_mask, value)


redact = Redactor()  # the processor without configured secrets (patterns and field names)


class AccessLogger(AbstractAccessLogger):
    """aiohttp access log as structured fields (no query string: it may carry a key).

    Health, readiness and metrics requests are logged at DEBUG, everything else at INFO.
    """

    _QUIET = frozenset({"/healthz", "/readyz", "/metrics"})

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        level = logging.DEBUG if request.path in self._QUIET else logging.INFO
        self.logger.log(
            level,
            "http_request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_s": round(time, 4),
                "peer": request.remote,
            },
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG) or self.logger.isEnabledFor(logging.INFO)


class _NoProtocolListFilter(logging.Filter):
    """Drop aiohttp's "Client protocols ... don't overlap" warning: it lists offered keys."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("%s: Client protocols")


def _json_str(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def _shared_processors() -> list[structlog.typing.Processor]:
    """What structlog lines and standard-library records both get first."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def line_processors(
    redactor: Redactor, *, console: bool = False
) -> list[structlog.typing.Processor]:
    """The processors of every structlog line the proxy writes, in order: context, level,
    time, exception, `redactor`, then one JSON line (bytes) or, with `console`, readable
    text. `configure_logging` installs them; `bench.hotpath` uses them to measure DEBUG."""
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer()
        if console
        else structlog.processors.JSONRenderer(serializer=orjson.dumps)
    )
    return [*_shared_processors(), structlog.processors.format_exc_info, redactor, renderer]


def configure_logging(cfg: LoggingConfig, *, secrets: Iterable[str | None] = ()) -> None:
    """Configure structlog, and route stdlib `logging` (aiohttp's included) through it.

    Args:
        cfg: level and format.
        secrets: credential values to mask wherever they appear (see `Redactor`).
    """
    level = logging.getLevelNamesMapping()[cfg.level.upper()]
    console = cfg.format == "console" or (cfg.format == "auto" and sys.stdout.isatty())
    redactor = Redactor(secrets)
    shared = _shared_processors()
    if console:
        factory: Any = structlog.PrintLoggerFactory()
        stdlib_renderer: structlog.typing.Processor = structlog.dev.ConsoleRenderer()
    else:
        factory = structlog.BytesLoggerFactory()
        stdlib_renderer = structlog.processors.JSONRenderer(serializer=_json_str)
    structlog.configure(
        processors=line_processors(redactor, console=console),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redactor,
                stdlib_renderer,
            ],
        )
    )
    handler.addFilter(_NoProtocolListFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.websocket").addFilter(_NoProtocolListFilter())

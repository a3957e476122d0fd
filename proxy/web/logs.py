"""structlog configuration: the one place logging is set up, and the redaction it applies.

JSON lines on stdout by default, readable console output on a TTY (`logging.format = auto`).
Standard-library records (aiohttp's own messages and its access log, see `AccessLogger`) go
through the same processors and renderer, so every line on stdout has one shape.

Credentials never reach a log: `Redactor` masks secret-named fields, credential-shaped
substrings (`Bearer ...`, `Basic ...`, `sk-...`, `ek_...` tokens whole,
`openai-insecure-api-key.<key>`, an `api-key: ...` or `Authorization: ...` header line, a
`?api-key=`/`key=`/`token=`... query parameter, the password of a `scheme://user:pass@` URL)
and the configured secret values themselves (the Inworld credential, client keys, the token
signing secret, the OpenAI key), at any depth; audio payload fields are replaced by their size.
aiohttp's server and access loggers go through the same processors. A request aiohttp cannot
parse (a bad request line, an invalid or folded header, a line over its limit) is logged as one
DEBUG `bad_http_request` line with the status and the error's class only: aiohttp's own ERROR
line would quote the raw bytes, credentials included, with a traceback. The aiohttp warning
that would print a browser's offered sub-protocols is suppressed.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import IO, Any

import orjson
import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from proxy.config import LoggingConfig

__all__ = [
    "AccessLogger",
    "BadRequestFilter",
    "Redactor",
    "configure_logging",
    "line_processors",
    "redact",
    "stdlib_handler",
]

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
        "api_keys",
        "signing_secret",
        "cookie",
        "set-cookie",
    }
)
_PAYLOAD_KEYS = frozenset({"audio", "delta"})  # base64 audio (and deltas): never logged
_SECRET_VALUE = re.compile(
    # what precedes a secret (kept), then the secret up to a space, quote or separator
    r"(?i)(?P<keep>bearer\s+|basic\s+|openai-insecure-api-key\.|basic_"
    r"|(?<![a-z0-9_-])(?:x-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?"
    r"|[?&;](?:api[-_]?key|apikey|key|token|access_token|client_secret|secret|password)="
    r")[^\s'\",;&#]+"
    # any other Authorization scheme: the whole value
    r"|(?P<auth>(?<![a-z0-9_-])(?:proxy-)?authorization[\"']?\s*[:=]\s*+[\"']?+"
    r"(?!bearer\s|basic\s))[^\r\n'\",;&#]+"
    # an OpenAI key or an ephemeral token (the proxy's are ek_p1_<payload>.<signature>)
    r"|(?<![A-Za-z0-9])(?P<prefix>sk-|ek_)[A-Za-z0-9_.-]{8,}"
    # the password of a URL
    r"|(?P<userinfo>\b[a-z][a-z0-9+.-]*://[^\s/@:]*:)[^\s/@]+@"
)
_MIN_SECRET = 8  # configured secrets shorter than this are not searched for in free text
_MAX_DEPTH = 4


def _mask(match: re.Match[str]) -> str:
    if match.group("userinfo"):
        return f"{match.group('userinfo')}[redacted]@"
    return f"{match.group('keep') or match.group('auth') or match.group('prefix')}[redacted]"


class Redactor:
    """structlog processor: masks credentials anywhere in an event (see the module docstring).

    Args:
        secrets: exact values to mask wherever they appear (the configured Inworld key,
            secret and credential, client keys, the token signing secret, the OpenAI key);
            values shorter than 8 characters are ignored.
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


class BadRequestFilter(logging.Filter):
    """aiohttp's "Error handling request" for a request it could not parse becomes one DEBUG
    `bad_http_request` line (status, error class, peer): no raw bytes, no traceback. Real
    handler errors (500s) keep their traceback (redacted like everything else)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
        record.msg, record.args = "bad_http_request", ()
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.status, record.error, record.peer = exc.code, type(exc).__name__, peer
        return True


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


def stdlib_handler(
    redactor: Redactor, *, console: bool = False, stream: IO[str] | None = None
) -> logging.Handler:
    """The handler standard-library records (aiohttp's server and access logs) go through:
    the same context, level, time, exception formatting and `redactor` as structlog lines,
    rendered as JSON (or console text) on `stream` (stdout); `BadRequestFilter` applied."""
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer()
        if console
        else structlog.processors.JSONRenderer(serializer=_json_str)
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *_shared_processors(),
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redactor,
                renderer,
            ],
        )
    )
    handler.addFilter(_NoProtocolListFilter())
    handler.addFilter(BadRequestFilter())
    return handler


def configure_logging(cfg: LoggingConfig, *, secrets: Iterable[str | None] = ()) -> None:
    """Configure structlog, and route stdlib `logging` (aiohttp's included) through it.

    Args:
        cfg: level and format.
        secrets: credential values to mask wherever they appear (see `Redactor`).
    """
    level = logging.getLevelNamesMapping()[cfg.level.upper()]
    console = cfg.format == "console" or (cfg.format == "auto" and sys.stdout.isatty())
    redactor = Redactor(secrets)
    factory: Any = structlog.PrintLoggerFactory() if console else structlog.BytesLoggerFactory()
    structlog.configure(
        processors=line_processors(redactor, console=console),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    root.handlers[:] = [stdlib_handler(redactor, console=console)]
    root.setLevel(level)
    logging.getLogger("aiohttp.websocket").addFilter(_NoProtocolListFilter())

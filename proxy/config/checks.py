"""Value checks for configuration tables (pure): each returns the value or raises `ConfigError`
naming the key. Used by `proxy.config`, which does all the reading.

A message names the key and what was expected, never the value itself (any key may hold a
secret by mistake); a URL is shown by `shown_url`, without its credentials or query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from proxy.config.types import ConfigError

__all__ = [
    "get",
    "http_url",
    "nonempty",
    "port",
    "positive",
    "shown_url",
    "str_list",
    "str_map",
    "upstream_url",
]

_T = TypeVar("_T")


def get(table: Mapping[str, Any], section: str, key: str, kind: type[_T]) -> _T:
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        got = type(value).__name__
        raise ConfigError(f"'{section}.{key}' must be of type {kind.__name__}, got a {got}")
    return value


def str_map(table: Mapping[str, Any], section: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table["map"].items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"'{section}.map.{key}' must be a non-empty string")
        out[key] = value
    return out


def nonempty(value: str, name: str) -> str:
    if not value:
        raise ConfigError(f"'{name}' must not be empty")
    return value


def port(value: int, name: str) -> int:
    if not 0 <= value <= 65535:
        raise ConfigError(f"'{name}' must be a port number (0-65535), got {value}")
    return value


def positive(value: float, name: str, *, zero_ok: bool = False) -> float:
    if value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(f"'{name}' must be {'>= 0' if zero_ok else '> 0'}, got {value}")
    return value


def shown_url(value: str) -> str:
    """`value` as a message may show it: no user, password, query or fragment (they may carry
    credentials); text that is not a URL at all is not shown."""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "(not a URL)"
    if not parts.scheme or not host:
        return "(not a URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


def upstream_url(value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ConfigError("'upstream.url' must be a ws:// or wss:// URL") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"'upstream.url' must be a ws:// or wss:// URL, got {shown_url(value)}")
    if parts.query:
        raise ConfigError("'upstream.url' must not carry a query; the proxy adds key and protocol")
    return value


def str_list(table: Mapping[str, Any], section: str, key: str) -> tuple[str, ...]:
    value = get(table, section, key, list)
    if not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"'{section}.{key}' must be a list of non-empty strings")
    return tuple(value)


def http_url(value: str, name: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ConfigError(f"'{name}' must be a {' or '.join(schemes)} URL") from None
    if parts.scheme not in schemes or not parts.hostname:
        shown = shown_url(value)
        raise ConfigError(f"'{name}' must be a {' or '.join(schemes)} URL, got {shown}")
    return value.rstrip("/")

"""Client authentication rules (pure): which credential a request carries, whether it is valid,
and whether a browser Origin may use the proxy.

Credential order (`openai-realtime.md` §12.3): `Authorization: Bearer`, then `api-key`, then the
browser sub-protocol `openai-insecure-api-key.<key>`. Keys are compared in constant time
against every configured key. Credentials are never echoed or logged.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

__all__ = [
    "KEY_SUBPROTOCOL",
    "is_loopback_host",
    "key_is_valid",
    "origin_allowed",
    "presented_credential",
]

KEY_SUBPROTOCOL = "openai-insecure-api-key."
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def presented_credential(headers: Mapping[str, str], subprotocols: Iterable[str]) -> str | None:
    """The credential a client presents, or None.

    Args:
        headers: the request headers (case-insensitive mapping).
        subprotocols: the offered WebSocket sub-protocols, in order.
    """
    auth = headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    api_key = headers.get("api-key", "").strip()
    if api_key:
        return api_key
    for protocol in subprotocols:
        if protocol.startswith(KEY_SUBPROTOCOL) and len(protocol) > len(KEY_SUBPROTOCOL):
            return protocol[len(KEY_SUBPROTOCOL) :]
    return None


def key_is_valid(presented: str | None, keys: Iterable[str]) -> bool:
    """True if `presented` equals one of `keys` (constant time; all keys are compared)."""
    if presented is None:
        return False
    given = presented.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode())
    return found


def is_loopback_host(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (and their bracketed forms); False for None."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """May a browser page from `origin` use the proxy?

    Requests without `Origin` (server-side SDKs) are always allowed, and so are pages served from
    a loopback host (the demo page, a local dev server). Other origins must be listed exactly
    (`scheme://host[:port]`) in `allowed`, or `allowed` must contain `*`.
    """
    if not origin:
        return True
    allowed = list(allowed)
    if "*" in allowed or origin.rstrip("/") in (item.rstrip("/") for item in allowed):
        return True
    host = urlsplit(origin).hostname
    return host is not None and is_loopback_host(host)

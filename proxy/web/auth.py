"""Client authentication rules (pure): which credential a request carries, whether it is valid,
and whether a browser Origin may use the proxy.

Credential order (`docs/protocol-notes.md#openai-connection`): `Authorization: Bearer`, then
`api-key`, then the browser sub-protocol `openai-insecure-api-key.<key>`. Keys are compared in
constant time against every configured key. Credentials are never echoed or logged.

Nothing here raises on what a client sends: a credential with a character outside visible
ASCII is malformed (`credential_well_formed`), an Origin or Host that does not parse is not
allowed.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

__all__ = [
    "KEY_SUBPROTOCOL",
    "credential_well_formed",
    "host_allowed",
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


def credential_well_formed(value: str) -> bool:
    """True if every character of `value` is visible ASCII (what keys and tokens are made of);
    a header decoded from other bytes, a space or a control character is malformed."""
    return value.isascii() and value.isprintable() and " " not in value


def key_is_valid(presented: str | None, keys: Iterable[str]) -> bool:
    """True if `presented` equals one of `keys` (constant time; all keys are compared).

    Never raises: text that is not valid UTF-8 (undecodable header bytes, an odd
    `PROXY_API_KEYS` value) is compared by its bytes."""
    if presented is None:
        return False
    given = presented.encode("utf-8", "surrogatepass")
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode("utf-8", "surrogatepass"))
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
    try:
        host = urlsplit(origin).hostname
    except ValueError:  # e.g. "http://[zz": not an origin any browser sends
        return False
    return host is not None and is_loopback_host(host)


def host_allowed(host: str | None, listen_host: str, allowed: Iterable[str]) -> bool:
    """May a request with this `Host` header be served when no client keys are set?

    Allowed: no Host header (HTTP/1.0; browsers always send one), a loopback name or address
    (`localhost`, `*.localhost`, 127.0.0.0/8, ::1), any IP address (a DNS-rebinding page
    reaches the proxy under a name, never an address), `listen_host`, and the names in
    `allowed` (exact, any case; `*` allows any). A port is ignored; a Host that does not parse
    is not allowed.
    """
    if host is None:
        return True
    allowed = [item.lower() for item in allowed]
    if "*" in allowed:
        return True
    if any(c in host for c in "@/?#\\ \t") or not host.isascii():
        return False
    try:
        parts = urlsplit(f"//{host}")
        name, _ = parts.hostname, parts.port
    except ValueError:
        return False
    if not name:
        return False
    name = name.rstrip(".")
    if is_loopback_host(name) or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name == listen_host.lower().strip("[]") or name in allowed
    return True

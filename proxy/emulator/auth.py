"""Handshake credential checks for the emulated endpoint (docs/emulator.md#handshake).

Inworld's credential forms: docs/protocol-notes.md#inworld-authentication.

Pure functions over header values, so the aiohttp shell only maps ``AuthError`` to HTTP 401.
Accepted forms: ``Authorization: Basic <b64 id:secret>``, ``Authorization: Bearer <b64 key or
JWT>``, and the browser sub-protocol ``basic_<b64 with '=' removed>``.
"""

import base64
import binascii
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .settings import EmulatorSettings

__all__ = [
    "AuthError",
    "Credential",
    "authenticate",
    "parse_subprotocols",
    "select_subprotocol",
]

_SUBPROTOCOL_PREFIX = "basic_"
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class AuthError(Exception):
    """Missing, malformed or wrong credentials; ``message`` is safe to show (no secrets)."""

    def __init__(self, message: str) -> None:
        """Keep the client-facing message."""
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Credential:
    """An accepted credential and where it came from (the value itself is not kept)."""

    scheme: Literal["basic", "bearer", "subprotocol"]
    is_jwt: bool = False


def parse_subprotocols(header: str | None) -> tuple[str, ...]:
    """The offered ``Sec-WebSocket-Protocol`` values, in order, blanks dropped."""
    if not header:
        return ()
    return tuple(p.strip() for p in header.split(",") if p.strip())


def select_subprotocol(offered: Sequence[str]) -> str | None:
    """The sub-protocol to echo: the first ``basic_...`` offer (the server should echo it,
    docs/protocol-notes.md#inworld-authentication), else ``realtime`` if offered, else None."""
    for proto in offered:
        if proto.startswith(_SUBPROTOCOL_PREFIX):
            return proto
    return "realtime" if "realtime" in offered else None


def authenticate(
    authorization: str | None, offered: Sequence[str], settings: EmulatorSettings
) -> Credential:
    """Check the handshake credential against ``settings``.

    The ``Authorization`` header wins over a ``basic_`` sub-protocol. With no configured
    key, any well-formed credential passes (base64 of ``id:secret``, or a JWT for Bearer).
    With ``api_key`` + ``api_secret`` the value must equal ``base64(api_key:api_secret)``;
    with ``api_key`` alone it must equal ``api_key`` verbatim (the portal's pre-encoded key;
    encoding it again is the classic mistake, docs/protocol-notes.md#inworld-authentication).
    JWTs are only accepted in open mode.

    Raises:
        AuthError: the request must be refused with HTTP 401.
    """
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        kind = scheme.lower()
        if kind not in ("basic", "bearer") or not value:
            raise AuthError("Unsupported or malformed Authorization header.")
        if kind == "bearer" and _JWT.fullmatch(value) and not _is_key(value):
            return _check_jwt(settings)
        _check_key(value, settings)
        return Credential("basic" if kind == "basic" else "bearer")
    for proto in offered:
        if proto.startswith(_SUBPROTOCOL_PREFIX):
            raw = proto.removeprefix(_SUBPROTOCOL_PREFIX)
            _check_key(raw + "=" * (-len(raw) % 4), settings)
            return Credential("subprotocol")
    raise AuthError("Missing credentials: send Authorization: Basic <API key>.")


def _expected(settings: EmulatorSettings) -> str | None:
    """The exact credential required by ``settings``, or None for open mode."""
    if settings.api_key is None:
        return None
    if settings.api_secret is None:
        return settings.api_key
    return base64.b64encode(f"{settings.api_key}:{settings.api_secret}".encode()).decode()


def _is_key(value: str) -> bool:
    """Whether ``value`` is strict base64 of ``<id>:<secret>`` with both halves non-empty."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    key_id, sep, secret = decoded.partition(":")
    return bool(sep and key_id and secret)


def _check_key(value: str, settings: EmulatorSettings) -> None:
    expected = _expected(settings)
    if expected is None:
        if not _is_key(value):
            raise AuthError("Malformed API key: expected base64 of '<key id>:<secret>'.")
    elif not hmac.compare_digest(value.encode(), expected.encode()):
        raise AuthError("Invalid API key.")


def _check_jwt(settings: EmulatorSettings) -> Credential:
    if _expected(settings) is not None:
        raise AuthError("Invalid token.")
    return Credential("bearer", is_jwt=True)

"""Stateless ephemeral client tokens (pure): mint and verify.

A token is `ek_p1_<payload>.<signature>`: the payload is zlib-compressed JSON
`{"iat", "exp", "session"}` in unpadded base64url, the signature HMAC-SHA256 of the payload
under the signing secret. Any replica with the same secret accepts any other's tokens; nothing
is stored. The `ek_` prefix is what the OpenAI SDKs require of a browser credential, and every
character is valid in a WebSocket sub-protocol (`openai-insecure-api-key.<token>`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["MAX_TOKEN_CHARS", "TOKEN_PREFIX", "TokenClaims", "TokenError", "mint", "verify"]

TOKEN_PREFIX = "ek_p1_"
# Headers carry the token; aiohttp refuses header fields over 8190 bytes.
MAX_TOKEN_CHARS = 6000


class TokenError(ValueError):
    """The token is malformed, forged, expired, or (when minting) too large."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token carries: its expiry and the GA session config to apply.

    `token_id` tells one minted token from every other (its signature): sessions are counted
    per token by it (`tokens.max_sessions`)."""

    expires_at: int
    session: dict[str, Any] | None
    token_id: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def mint(secret: bytes, session: dict[str, Any] | None, *, ttl: int, now: float) -> tuple[str, int]:
    """Return (token, expires_at) for a session config valid `ttl` seconds from `now`.

    Raises:
        TokenError: the session config makes the token longer than `MAX_TOKEN_CHARS`, or is
            nested too deeply to serialise.
    """
    expires_at = int(now) + ttl
    try:
        body = orjson.dumps({"iat": int(now), "exp": expires_at, "session": session})
    except orjson.JSONEncodeError:
        raise TokenError("the session config is nested too deeply") from None
    payload = _b64(zlib.compress(body, 9))
    token = f"{TOKEN_PREFIX}{payload}.{_sign(secret, payload)}"
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError("the session config is too large to carry in a token")
    return token, expires_at


def verify(secret: bytes, token: str, *, now: float) -> TokenClaims:
    """Check a token's signature and expiry; return its claims.

    Raises:
        TokenError: not a proxy token (any non-ASCII character included), bad signature, or
            expired. Nothing else, whatever `token` holds.
    """
    if not token.isascii() or not token.startswith(TOKEN_PREFIX) or token.count(".") != 1:
        raise TokenError("not a token minted by this proxy")
    payload, signature = token[len(TOKEN_PREFIX) :].split(".")
    if not hmac.compare_digest(signature, _sign(secret, payload)):
        raise TokenError("token signature is invalid")
    try:
        claims = orjson.loads(zlib.decompress(_unb64(payload)))
    except (binascii.Error, zlib.error, orjson.JSONDecodeError, ValueError):
        raise TokenError("token payload is malformed") from None
    expires_at = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(expires_at, int):
        raise TokenError("token payload is malformed")
    if now >= expires_at:
        raise TokenError("token has expired")
    session = claims.get("session")
    return TokenClaims(
        expires_at=expires_at,
        session=session if isinstance(session, dict) else None,
        token_id=signature,
    )

"""Request guard (aiohttp middleware): Origin check, client keys, ephemeral tokens, CORS.

Runs before any handler, so a refused WebSocket gets an HTTP error before the upgrade
(401 missing/invalid key or token, 403 origin not allowed), with a JSON body and no secret in
it. Health, readiness and metrics are not guarded. Rules are in `proxy.web.auth` and
`proxy.web.tokens`; this module only applies them to requests.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from proxy.web.appkeys import CONFIG, TOKEN_SECRET
from proxy.web.auth import key_is_valid, origin_allowed, presented_credential
from proxy.web.tokens import TOKEN_PREFIX, TokenError, verify

__all__ = ["PRESET_SESSION", "cors_headers", "guard", "json_error"]

# The GA session config an ephemeral token carries, for the session handler.
PRESET_SESSION = web.RequestKey("preset_session", dict[str, Any])
_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/"})
_REST_PREFIX = "/v1/realtime/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, code: str, message: str) -> web.Response:
    """An OpenAI-shaped HTTP error response."""
    body = {"error": {"type": "invalid_request_error", "code": code, "message": message}}
    return web.json_response(body, status=status)


def cors_headers(origin: str | None) -> dict[str, str]:
    """CORS headers for an allowed browser origin (REST token endpoints)."""
    if not origin:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, OpenAI-Beta, api-key",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def _subprotocols(request: web.Request) -> list[str]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [item.strip() for item in header.split(",") if item.strip()]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse what may not pass; attach a token's session config; add CORS headers."""
    if request.path in _OPEN_PATHS:
        return await handler(request)
    cfg = request.app[CONFIG]
    origin = request.headers.get("Origin")
    if not origin_allowed(origin, cfg.clients.allowed_origins):
        return json_error(403, "origin_not_allowed", "This Origin may not use the proxy.")
    rest = request.path.startswith(_REST_PREFIX)
    if request.method == "OPTIONS":  # CORS preflight carries no credentials
        return web.Response(status=204, headers=cors_headers(origin))
    credential = presented_credential(request.headers, _subprotocols(request))
    if credential is not None and credential.startswith(TOKEN_PREFIX) and not rest:
        try:
            claims = verify(request.app[TOKEN_SECRET], credential, now=time.time())
        except TokenError as exc:
            return json_error(401, "invalid_api_key", f"Ephemeral token refused: {exc}.")
        if claims.session is not None:
            request[PRESET_SESSION] = claims.session
    elif cfg.clients.api_keys and not key_is_valid(credential, cfg.clients.api_keys):
        what = "missing" if credential is None else "not valid"
        return json_error(401, "invalid_api_key", f"The API key is {what} for this proxy.")
    response = await handler(request)
    if rest:
        response.headers.update(cors_headers(origin))
    return response

"""Request guard (aiohttp middleware): Host and Origin checks, client keys, ephemeral tokens,
CORS.

Runs before any handler, so a refused WebSocket gets an HTTP error before the upgrade, with a
JSON body and no secret in it:

- 421 when no client keys are set and the `Host` header is not allowed
  (`proxy.web.auth.host_allowed`: DNS-rebinding pages), on every path;
- 403 when the `Origin` is not allowed;
- 401 when the credential is missing or wrong (client keys set), malformed (any character
  outside visible ASCII, whether keys are set or not), or an ephemeral token used outside its
  scope: a token opens realtime sessions (`TOKEN_PATHS`: WebSocket sessions and WebRTC calls)
  and nothing else, not REST passthrough and not minting.

Health, readiness, metrics and the demo page need no credential. A request that passes
marks its connection authenticated (`proxy.web.admission`); one answered while its connection
is still not authenticated closes the connection after the answer. The token's session config
and the owner of the credential (`proxy.web.caps`) are attached to the request for the
realtime handler. Rules live in `proxy.web.auth` and `proxy.web.tokens`; this module only
applies them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from proxy.web.admission import Admission
from proxy.web.appkeys import ADMISSION, CONFIG, METRICS, TOKEN_SECRET
from proxy.web.auth import (
    credential_well_formed,
    host_allowed,
    key_is_valid,
    origin_allowed,
    presented_credential,
)
from proxy.web.caps import key_owner, token_owner
from proxy.web.tokens import TOKEN_PREFIX, TokenError, verify

__all__ = ["OWNER", "PRESET_SESSION", "TOKEN_PATHS", "cors_headers", "guard", "json_error"]

# The GA session config an ephemeral token carries, for the session handler.
PRESET_SESSION = web.RequestKey("preset_session", dict[str, Any])
# Who the request's sessions count against (`proxy.web.caps`); absent without a credential
# that identifies anyone (no keys set, no token).
OWNER = web.RequestKey("owner", str)
# The only paths an ephemeral token opens (OpenAI's client secrets are for realtime sessions,
# over a WebSocket or a WebRTC call: proxy.web.calls).
TOKEN_PATHS = frozenset({"/v1/realtime", "/realtime", "/v1/realtime/calls", "/realtime/calls"})
# Browsers POST WebRTC offers cross-origin (the beta form to /v1/realtime): CORS as for REST.
_CALL_PATHS = TOKEN_PATHS
_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/"})
_CORS_PREFIX = "/v1/realtime/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, code: str, message: str) -> web.Response:
    """An OpenAI-shaped HTTP error response."""
    body = {"error": {"type": "invalid_request_error", "code": code, "message": message}}
    return web.json_response(body, status=status)


_ALLOW_HEADERS = "Authorization, Content-Type, OpenAI-Beta, api-key, X-OpenAI-Agents-SDK"
_HEADER_LIST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_, ")


def cors_headers(origin: str | None, requested: str | None = None) -> dict[str, str]:
    """CORS headers for an allowed browser origin (REST and WebRTC signalling endpoints).
    `Vary: Origin` always: the answer depends on the Origin even when there is none.

    A preflight's `Access-Control-Request-Headers` (`requested`) is allowed as asked when it is
    a plain header list: SDKs add their own telemetry headers (`X-OpenAI-Agents-SDK`,
    `X-Stainless-*`), and a fixed list would refuse them
    (docs/protocol-notes.md#openai-webrtc-signalling). `Location` is exposed: browsers read the
    call id from it."""
    if not origin:
        return {"Vary": "Origin"}
    allow = _ALLOW_HEADERS
    if requested and len(requested) <= 1000 and set(requested) <= _HEADER_LIST:
        allow = requested
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": allow,
        "Access-Control-Expose-Headers": "Location",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def _subprotocols(request: web.Request) -> list[str]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [item.strip() for item in header.split(",") if item.strip()]


def _refuse(request: web.Request, status: int, code: str, message: str) -> web.Response:
    reason = {401: "unauthorized", 403: "origin_not_allowed", 421: "host_not_allowed"}[status]
    request.app[METRICS].connections_refused_by(reason)
    return json_error(status, code, message)


def _credential_refusal(request: web.Request) -> web.Response | None:
    """Check the credential; attach what it carries. None if the request may pass."""
    cfg = request.app[CONFIG]
    credential = presented_credential(request.headers, _subprotocols(request))
    if credential is not None and not credential_well_formed(credential):
        return _refuse(request, 401, "invalid_api_key", "The credential is malformed.")
    if credential is not None and credential.startswith(TOKEN_PREFIX):
        if request.path not in TOKEN_PATHS:
            message = (
                "Ephemeral tokens open realtime sessions only (/v1/realtime); use an API key "
                "for this endpoint."
            )
            return _refuse(request, 401, "invalid_api_key", message)
        try:
            claims = verify(request.app[TOKEN_SECRET], credential, now=time.time())
        except TokenError as exc:
            return _refuse(request, 401, "invalid_api_key", f"Ephemeral token refused: {exc}.")
        if claims.session is not None:
            request[PRESET_SESSION] = claims.session
        request[OWNER] = token_owner(claims.token_id)
    elif cfg.clients.api_keys:
        if not key_is_valid(credential, cfg.clients.api_keys):
            what = "missing" if credential is None else "not valid"
            return _refuse(
                request, 401, "invalid_api_key", f"The API key is {what} for this proxy."
            )
        assert credential is not None
        request[OWNER] = key_owner(credential)
    return None


def _closing_if_pending(
    admission: Admission | None, request: web.Request, response: web.StreamResponse
) -> web.StreamResponse:
    """An answer on a connection nobody authenticated is its last (`proxy.web.admission`)."""
    if admission is not None and admission.is_pending(request.transport) and not response.prepared:
        response.force_close()
    return response


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse what may not pass; attach a token's session config; add CORS headers."""
    cfg = request.app[CONFIG]
    admission = request.app.get(ADMISSION)
    if not cfg.clients.api_keys and not host_allowed(
        request.headers.get("Host"), cfg.server.host, cfg.server.allowed_hosts
    ):
        response: web.StreamResponse = _refuse(
            request,
            421,
            "host_not_allowed",
            "This Host may not use the proxy (server.allowed_hosts).",
        )
        return _closing_if_pending(admission, request, response)
    if request.path in _OPEN_PATHS:
        return _closing_if_pending(admission, request, await handler(request))
    origin = request.headers.get("Origin")
    cors = request.path.startswith(_CORS_PREFIX) or (
        request.path in _CALL_PATHS and request.method != "GET"
    )
    allowed = origin_allowed(origin, cfg.clients.allowed_origins)
    if not allowed:
        response = _refuse(request, 403, "origin_not_allowed", "This Origin may not use the proxy.")
    elif request.method == "OPTIONS":  # CORS preflight carries no credentials
        response = web.Response(status=204)
    else:
        refusal = _credential_refusal(request)
        if refusal is None:
            if admission is not None:
                admission.authenticated(request.transport)
            response = await handler(request)
        else:
            response = refusal
    if cors and not response.prepared:
        requested = request.headers.get("Access-Control-Request-Headers")
        response.headers.update(cors_headers(origin if allowed else None, requested))
    return _closing_if_pending(admission, request, response)

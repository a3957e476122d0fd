"""REST endpoints that mint ephemeral client tokens (OpenAI's shapes,
`docs/protocol-notes.md#openai-ephemeral-tokens`).

- `POST /v1/realtime/client_secrets` (GA): `{"expires_after": {"seconds": N}, "session": {...}}`
  -> `{"value": "ek_...", "expires_at": T, "session": {...}}`; N 10..`tokens.max_ttl`,
  default 600.
- `POST /v1/realtime/sessions` (beta): a flat session -> the session plus
  `client_secret: {value, expires_at}`; lifetime 60 s, as OpenAI's.

`GET /` serves the browser demo page (`server.demo_page`) with a Content-Security-Policy that
allows only its own inline script and style (by hash) and connections to the proxy itself, and
`X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`.

The token carries the session config (in GA form); the proxy applies it when a client connects
with the token (`proxy.web.guard`). Guarded like every `/v1` route: when client keys are set, the
caller must present one, and a token is refused (401): tokens open sessions, they do not
mint more. Bodies are parsed by orjson; nesting past its limits is a 400, never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from proxy.core.dialect import is_ga_session, session_to_ga
from proxy.web.appkeys import CONFIG, TOKEN_SECRET
from proxy.web.guard import json_error
from proxy.web.tokens import TokenError, mint

__all__ = ["beta_sessions", "client_secrets", "demo_page"]

_GA_DEFAULT_TTL = 600
_BETA_TTL = 60


def _inline_hashes(page: str, tag: str) -> str:
    """CSP source expressions for every inline `<tag>` block of `page` (sha256 of its text)."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
    digests = (hashlib.sha256(block.encode()).digest() for block in blocks)
    return " ".join(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests)


def demo_headers(page: str) -> dict[str, str]:
    """The security headers of the demo page (see the module docstring)."""
    policy = (
        f"default-src 'none'; script-src {_inline_hashes(page, 'script')}; "
        f"style-src {_inline_hashes(page, 'style')}; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


async def demo_page(_: web.Request) -> web.Response:
    """The browser demo (`proxy/static/demo.html`): microphone in, speaker out, via a token."""
    page = resources.files("proxy.web").joinpath("static/demo.html").read_text(encoding="utf-8")
    return web.Response(text=page, content_type="text/html", headers=demo_headers(page))


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = orjson.loads(await request.read()) if request.can_read_body else {}
    except orjson.JSONDecodeError:  # also nesting past orjson's limit
        return json_error(400, "invalid_json", "The request body is not valid JSON.")
    if not isinstance(body, dict):
        return json_error(400, "invalid_type", "The request body must be a JSON object.")
    return body


def _mint(request: web.Request, session: dict[str, Any] | None, ttl: int) -> tuple[str, int]:
    return mint(request.app[TOKEN_SECRET], session, ttl=ttl, now=time.time())


async def client_secrets(request: web.Request) -> web.Response:
    """GA: mint a token for the session config in the request."""
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    max_ttl = request.app[CONFIG].tokens.max_ttl
    expires = body.get("expires_after") or {}
    ttl = expires.get("seconds", _GA_DEFAULT_TTL) if isinstance(expires, dict) else None
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 10 <= ttl <= max_ttl:
        message = f"expires_after.seconds must be an integer from 10 to {max_ttl}."
        return json_error(400, "invalid_value", message)
    session = body.get("session")
    if session is not None and not isinstance(session, dict):
        return json_error(400, "invalid_type", "session must be an object.")
    session = {"type": "realtime", **(session or {})}
    try:
        value, expires_at = _mint(request, session, ttl)
    except TokenError as exc:
        return json_error(400, "session_too_large", f"{exc}.")
    shown = {**session, "object": "realtime.session", "id": f"sess_{uuid.uuid4().hex[:20]}"}
    return web.json_response({"value": value, "expires_at": expires_at, "session": shown})


async def beta_sessions(request: web.Request) -> web.Response:
    """Beta: mint a token for a flat session config; 60 s lifetime."""
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    session = body if is_ga_session(body) else session_to_ga(body)
    try:
        value, expires_at = _mint(request, session, _BETA_TTL)
    except TokenError as exc:
        return json_error(400, "session_too_large", f"{exc}.")
    shown = {
        "id": f"sess_{uuid.uuid4().hex[:20]}",
        "object": "realtime.session",
        **body,
        "client_secret": {"value": value, "expires_at": expires_at},
    }
    return web.json_response(shown)

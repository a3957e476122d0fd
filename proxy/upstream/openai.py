"""The OpenAI side of a pass-through session: URL, headers and the dial.

For `provider = "openai"` variants the proxy is a plain relay to OpenAI's own Realtime API:
`<providers.openai.url>?model=<model>[&intent=...]` with `Authorization: Bearer <key>`, where
the key is `OPENAI_API_KEY` (or, with `forward_client_key`, the client's own Bearer key). Of
the client's handshake only `OpenAI-Beta` is passed on (it selects the protocol the client
speaks); nothing else (its Authorization, cookies, sub-protocols) is forwarded.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlencode

from proxy.config import OpenAIConfig
from proxy.upstream.inworld import UpstreamRefused, open_websocket
from proxy.ws.link import Link

__all__ = ["connect_openai", "openai_headers", "openai_key", "openai_url"]


def openai_key(cfg: OpenAIConfig, client_key: str | None) -> str | None:
    """The Bearer key for OpenAI: the client's when forwarding is on and it has one."""
    if cfg.forward_client_key and client_key:
        return client_key
    return cfg.api_key


def openai_url(cfg: OpenAIConfig, model: str, intent: str | None = None) -> str:
    """The OpenAI realtime URL for one session."""
    query = {"model": model} if model else {}
    if intent:
        query["intent"] = intent
    return f"{cfg.url}?{urlencode(query)}" if query else cfg.url


def openai_headers(key: str, beta_header: str | None) -> dict[str, str]:
    """Handshake headers: the Bearer key and, if the client sent one, `OpenAI-Beta`."""
    headers = {"Authorization": f"Bearer {key}"}
    if beta_header:
        headers["OpenAI-Beta"] = beta_header
    return headers


async def connect_openai(
    cfg: OpenAIConfig,
    *,
    model: str,
    intent: str | None,
    beta_header: str | None,
    client_key: str | None,
    max_msg_size: int,
    heartbeat: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Link:
    """Open the OpenAI WebSocket for one pass-through session.

    Raises:
        UpstreamRefused: no key is available, or the handshake failed (HTTP error, network,
            timeout), as for Inworld (`proxy.upstream.inworld.connect`).
    """
    key = openai_key(cfg, client_key)
    if key is None:
        raise UpstreamRefused(None, "no OpenAI key (OPENAI_API_KEY)")
    return await open_websocket(
        openai_url(cfg, model, intent),
        openai_headers(key, beta_header),
        connect_timeout=cfg.connect_timeout,
        max_msg_size=max_msg_size,
        heartbeat=heartbeat,
        ssl_context=ssl_context,
    )

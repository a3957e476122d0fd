"""The OpenAI side of a pass-through session: URL, headers and the dial.

For `provider = "openai"` variants the proxy is a plain relay to OpenAI's own Realtime API:
`<providers.openai.url>?model=<model>[&intent=...]` with `Authorization: Bearer <key>`, where
the key is `OPENAI_API_KEY` (or, with `forward_client_key`, the client's own Bearer key). Of
the client's handshake only `OpenAI-Beta` is passed on (it selects the protocol the client
speaks); nothing else (its Authorization, cookies, sub-protocols) is forwarded.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import aiohttp

from proxy.config import OpenAIConfig
from proxy.upstream import UpstreamRefused

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
    http: aiohttp.ClientSession,
    cfg: OpenAIConfig,
    *,
    model: str,
    intent: str | None,
    beta_header: str | None,
    client_key: str | None,
    max_msg_size: int,
) -> aiohttp.ClientWebSocketResponse[bool]:
    """Open the OpenAI WebSocket for one pass-through session.

    Raises:
        UpstreamRefused: no key is available, or the handshake failed (HTTP error, network,
            timeout), as for Inworld (`proxy.upstream.connect`).
    """
    key = openai_key(cfg, client_key)
    if key is None:
        raise UpstreamRefused(None, "no OpenAI key (OPENAI_API_KEY)")
    try:
        async with asyncio.timeout(cfg.connect_timeout):
            return await http.ws_connect(
                openai_url(cfg, model, intent),
                headers=openai_headers(key, beta_header),
                max_msg_size=max_msg_size,
                autoping=True,
                ssl=True,
                decode_text=False,  # the relay forwards TEXT frames as the bytes received
            )
    except aiohttp.WSServerHandshakeError as exc:
        raise UpstreamRefused(exc.status, f"HTTP {exc.status}") from None
    except TimeoutError:
        raise UpstreamRefused(None, f"no handshake within {cfg.connect_timeout:g} s") from None
    except aiohttp.ClientError as exc:
        raise UpstreamRefused(None, type(exc).__name__) from None
    except OSError as exc:
        raise UpstreamRefused(None, exc.strerror or type(exc).__name__) from None

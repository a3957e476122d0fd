"""The Inworld side of a session: URL, headers and the dial. The only module that knows them.

`inworld-realtime.md` §1: `<url>?key=<session id>&protocol=realtime`, `Authorization: Basic
<base64 id:secret>`. Nothing from the client's handshake (its `Authorization`, `OpenAI-Beta`,
sub-protocols) is ever forwarded: the headers are built here from configuration alone.
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlencode

import aiohttp

from proxy.config import UpstreamConfig

__all__ = ["UpstreamRefused", "connect", "new_session_key", "session_headers", "session_url"]


class UpstreamRefused(Exception):
    """The upstream handshake failed; `status` is the HTTP status, or None (network, timeout)."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def new_session_key() -> str:
    """A fresh Inworld session key: one UUID4 per client connection."""
    return str(uuid.uuid4())


def session_url(base: str, session_key: str) -> str:
    """The upstream URL for one session."""
    return f"{base}?{urlencode({'key': session_key, 'protocol': 'realtime'})}"


def session_headers(credential: str | None) -> dict[str, str]:
    """Headers for the upstream handshake: only `Authorization: Basic ...` (if configured)."""
    return {"Authorization": f"Basic {credential}"} if credential else {}


async def connect(
    http: aiohttp.ClientSession,
    cfg: UpstreamConfig,
    session_key: str,
    *,
    max_msg_size: int,
    heartbeat: float | None = None,
) -> aiohttp.ClientWebSocketResponse:
    """Open the upstream WebSocket for one session (TLS verified, bounded by `connect_timeout`).

    Raises:
        UpstreamRefused: the server answered the upgrade with an HTTP error, could not be
            reached, or did not finish the handshake in time.
    """
    url = session_url(cfg.url, session_key)
    try:
        async with asyncio.timeout(cfg.connect_timeout):
            return await http.ws_connect(
                url,
                headers=session_headers(cfg.credential),
                max_msg_size=max_msg_size,
                autoping=True,
                heartbeat=heartbeat,
                ssl=True,
            )
    except aiohttp.WSServerHandshakeError as exc:
        raise UpstreamRefused(exc.status, f"HTTP {exc.status}") from None
    except TimeoutError:
        raise UpstreamRefused(None, f"no handshake within {cfg.connect_timeout:g} s") from None
    except aiohttp.ClientError as exc:
        raise UpstreamRefused(None, type(exc).__name__) from None
    except OSError as exc:
        raise UpstreamRefused(None, exc.strerror or type(exc).__name__) from None

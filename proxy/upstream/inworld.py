"""The Inworld side of a session: URL, headers and the dial. The only module that knows them.

`docs/protocol-notes.md#inworld-endpoint` and `#inworld-authentication`:
`<url>?key=<session id>&protocol=realtime`, `Authorization: Basic <base64 id:secret>`. Nothing
from the client's handshake (its `Authorization`, `OpenAI-Beta`, sub-protocols) is ever
forwarded: the headers are built here from configuration alone.
"""

from __future__ import annotations

import ssl
import uuid
from urllib.parse import urlencode

from proxy.config import UpstreamConfig
from proxy.ws.dial import UpstreamRefused, open_upstream
from proxy.ws.link import Link, take_over

__all__ = [
    "UpstreamRefused",
    "connect",
    "new_session_key",
    "open_websocket",
    "session_headers",
    "session_url",
]


def new_session_key() -> str:
    """A fresh Inworld session key: one UUID4 per client connection."""
    return str(uuid.uuid4())


def session_url(base: str, session_key: str) -> str:
    """The upstream URL for one session."""
    return f"{base}?{urlencode({'key': session_key, 'protocol': 'realtime'})}"


def session_headers(credential: str | None) -> dict[str, str]:
    """Headers for the upstream handshake: only `Authorization: Basic ...` (if configured)."""
    return {"Authorization": f"Basic {credential}"} if credential else {}


async def open_websocket(
    url: str,
    headers: dict[str, str],
    *,
    connect_timeout: float,
    max_msg_size: int,
    heartbeat: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Link:
    """Open an upstream WebSocket (TLS verified) and hand its connection to a `Link`.

    Shared by the Inworld dial below and the OpenAI pass-through provider. The handshake is
    the proxy's own (`proxy.ws.dial`), so every byte after the 101 reaches the link.

    Raises:
        UpstreamRefused: the server answered the upgrade with an HTTP error, could not be
            reached, or did not finish the handshake within `connect_timeout` seconds.
    """
    try:
        opened = await open_upstream(
            url, headers, connect_timeout=connect_timeout, ssl_context=ssl_context
        )
    except ValueError as exc:  # a header the request cannot carry (e.g. a client's OpenAI-Beta)
        raise UpstreamRefused(None, str(exc)) from None
    link = Link(client_side=True, max_size=max_msg_size, heartbeat=heartbeat)
    take_over(opened.transport, link, opened.leftover)
    return link


async def connect(
    cfg: UpstreamConfig,
    session_key: str,
    *,
    max_msg_size: int,
    heartbeat: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Link:
    """Open the Inworld WebSocket for one session (bounded by `connect_timeout`).

    Raises:
        UpstreamRefused: see `open_websocket`.
    """
    return await open_websocket(
        session_url(cfg.url, session_key),
        session_headers(cfg.credential),
        connect_timeout=cfg.connect_timeout,
        max_msg_size=max_msg_size,
        heartbeat=heartbeat,
        ssl_context=ssl_context,
    )

"""The client's WebSocket until the relay owns it: aiohttp answers the upgrade, then hands over.

`ClientSocket` is the aiohttp `WebSocketResponse` for `/v1/realtime`. aiohttp validates the
client's upgrade and writes the 101 (sub-protocol selection, no permessage-deflate); then
`hand_over()` gives the raw transport to a `proxy.ws.link.Link`, and from there aiohttp neither
reads nor writes the socket: its `close()` becomes a no-op, so aiohttp's end-of-handler
`write_eof()` does not try a closing handshake on a socket it no longer owns.

Bytes that arrived with the upgrade request (a client that sends its first frames without
waiting for the 101) are taken from aiohttp before its own WebSocket reader would swallow them,
and given to the Link first, so they are processed in order (one private aiohttp attribute,
`RequestHandler._message_tail`; if it disappears, nothing is taken).

`transport_of` reaches the transport under an aiohttp WebSocket (tests use it to cut a
connection); it touches one private aiohttp attribute and returns None if it disappears.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import WSCloseCode, web
from aiohttp.web_request import BaseRequest

from proxy.ws.link import Link, take_over

__all__ = ["ClientSocket", "transport_of"]


def transport_of(
    ws: web.WebSocketResponse[bool] | aiohttp.ClientWebSocketResponse[bool],
) -> asyncio.Transport | None:
    """The TCP transport under a prepared/connected aiohttp WebSocket (None if hidden)."""
    writer = getattr(ws, "_writer", None)
    transport = getattr(writer, "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


class ClientSocket(web.WebSocketResponse):
    """The client's WebSocket response, handed over to a `Link` after `prepare()`."""

    _handed_over = False
    _pipelined = b""  # bytes received after the upgrade request, before the 101 went out

    def _post_start(self, request: BaseRequest, protocol: str | None, writer: Any) -> None:
        handler = request.protocol
        self._pipelined = getattr(handler, "_message_tail", b"") or b""
        if self._pipelined:
            handler._message_tail = b""  # not for aiohttp's reader: the Link reads them
        super()._post_start(request, protocol, writer)

    def hand_over(self, request: web.Request, link: Link) -> None:
        """Give the upgraded connection to `link`.

        Call right after `prepare()` returns, without awaiting in between: `prepare()` does
        not yield after writing the 101, and a client sends no frame before it reads the 101
        (RFC 6455 §4.1), so aiohttp has read nothing of the WebSocket stream yet.
        """
        transport = request.transport
        assert transport is not None, "hand_over() needs a live connection"
        self._handed_over = True
        pipelined, self._pipelined = self._pipelined, b""
        take_over(transport, link, pipelined)

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        """Close the socket, unless a Link owns it now (then the Link closes it)."""
        if self._handed_over:
            return False
        return await super().close(code=code, message=message, drain=drain)

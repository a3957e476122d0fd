"""Socket-level limits for the relay: bounded, never-blocking writes and the too-big message.

aiohttp's `send_str` waits for the peer only once 64 KiB were written since its last wait, and
then without a deadline, so a peer that stops reading would hang a pump forever. The relay
instead makes writes never wait (`never_wait`) and, before each send, compares the bytes still
queued in the socket's transport with `limits.max_queued_bytes` (`queued_bytes`): one integer
read per frame, no task or queue hop. Memory per direction is therefore bounded by the cap plus
one message.

`ClientSocket` is the client's `WebSocketResponse`: when aiohttp closes it with 1009 because a
message is over `server.max_message_bytes`, it first sends the client an OpenAI `error` event.

The helpers touch two private aiohttp attributes (`_writer`, `_writer._limit`) and degrade to
aiohttp's own behaviour if they ever disappear.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import aiohttp
from aiohttp import WSCloseCode, web

from proxy.errors import limit_error

__all__ = ["AnySocket", "ClientSocket", "close_within", "never_wait", "transport_of"]

AnySocket = web.WebSocketResponse[bool] | aiohttp.ClientWebSocketResponse[bool]


def transport_of(ws: AnySocket) -> asyncio.Transport | None:
    """The TCP transport under a prepared/connected WebSocket (None if aiohttp hides it)."""
    writer = getattr(ws, "_writer", None)
    transport = getattr(writer, "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


def never_wait(ws: AnySocket) -> asyncio.Transport | None:
    """Make `send_str` on `ws` never wait for the peer; return the transport to watch.

    The caller must bound what is queued itself (compare `get_write_buffer_size()` with its cap
    before each send).
    """
    writer = getattr(ws, "_writer", None)
    if writer is not None and isinstance(getattr(writer, "_limit", None), int):
        writer._limit = sys.maxsize
    return transport_of(ws)


async def close_within(ws: AnySocket, code: int, reason: str, patience: float) -> None:
    """Close `ws` with `code`/`reason`; drop the connection if the peer does not answer in time.

    A peer that stopped reading never acknowledges the Close frame (and its unread bytes keep
    the socket alive after a plain close), so after `timeout` the transport is aborted.
    """
    transport = transport_of(ws)
    try:
        async with asyncio.timeout(patience):
            await ws.close(code=code, message=reason.encode()[:123])
    except TimeoutError:
        pass
    except (ConnectionError, aiohttp.ClientError):
        pass
    finally:
        if transport is not None and (
            not transport.is_closing() or transport.get_write_buffer_size()
        ):
            transport.abort()


class ClientSocket(web.WebSocketResponse):
    """The client's WebSocket: a message over the size limit gets an `error` event, then 1009."""

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        """Close the socket; for aiohttp's own 1009 (no reason given), tell the client why first."""
        if code == WSCloseCode.MESSAGE_TOO_BIG and not message and not self.closed:
            with contextlib.suppress(ConnectionError):
                await self.send_str(limit_error("message_too_big"))
            message = message or b"message too big"
        return await super().close(code=code, message=message, drain=drain)

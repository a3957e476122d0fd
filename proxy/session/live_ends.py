"""How a Live session ends (`proxy.session.live_relay`): who ended it, the Live `error` the
client is sent first, the `session.closed` reason, the close code of each side (docs/live.md).

The codes follow the Realtime relay (`proxy.session.relay`): a limit of the client's is its
error and its code; Inworld's close is passed on (`client_close_code`), a lost Inworld is
`upstream_connection_lost` and 1011, Inworld breaking the protocol 1011. A session that had
started is also sent `session.closed`; the relay then closes the client with 1000 instead,
since the Live SDKs reconnect on 1011 to a session that cannot be resumed
(docs/protocol-notes.md#openai-live-connection).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from proxy.core.error_events import client_close_code, upstream_refusal
from proxy.core.live_events import live_error, live_limit_error
from proxy.session.relay import SessionEnd
from proxy.ws.link import LOST, Link

__all__ = [
    "Ending",
    "client_ending",
    "close_links",
    "limit_ending",
    "refused_ending",
    "slow_ending",
    "upstream_ending",
]

Close = tuple[int, str]

_CLIENT_LIMITS = {1009: "message_too_big", 1008: "message_timeout", 1013: "message_buffers_full"}
_UPSTREAM_LIMITS = {
    1009: ("upstream_message_too_big", 1009),
    1008: ("upstream_message_timeout", 1011),
    1013: ("message_buffers_full", 1013),
}
_EXPIRED = {"session_expired": "expired", "idle_timeout": "expired"}


@dataclass(frozen=True, slots=True)
class Ending:
    """One way a session ends (see the module docstring)."""

    ended_by: str  # client | upstream | proxy
    reason: str  # for the session_end line
    client: Close | None = None  # what the client's link is closed with (None: 1000)
    upstream: Close | None = None  # what Inworld's link is closed with (None: 1000)
    error: bytes | None = None  # a Live `error` for the client, first
    closed: str | None = None  # the `session.closed` reason, if the session had started
    client_code: int | None = None  # the client's own close code, when it closed


def client_ending(code: int, reason: str, broken: bool) -> Ending:
    """The client closed (`code`), vanished (1006), or this side failed its connection."""
    if broken:
        why = reason if code != 1009 else "client message too big"
        kind = _CLIENT_LIMITS.get(code)
        error = live_limit_error(kind) if kind is not None else None
        return Ending("proxy", why, client=(code, reason), upstream=(1000, why), error=error)
    reason = "client connection lost" if code == LOST else reason or "client closed"
    upstream = (client_close_code(code), reason)
    return Ending("client", reason, upstream=upstream, client_code=code)


def upstream_ending(code: int, reason: str, broken: bool) -> Ending:
    """Inworld closed (`code`), vanished (1006), or this side failed its connection."""
    if broken and code in _UPSTREAM_LIMITS:
        kind, sent = _UPSTREAM_LIMITS[code]
        why = f"upstream {reason}"
        return Ending("proxy", why, client=(sent, why), upstream=(code, why),
                      error=live_limit_error(kind), closed="connection_lost")  # fmt: skip
    if broken:
        why = f"upstream protocol error: {reason}"
        return Ending("proxy", why, client=(1011, "upstream protocol error"),
                      upstream=(code, reason), closed="connection_lost")  # fmt: skip
    if code == LOST:
        why = "upstream connection lost"
        error = live_limit_error("upstream_connection_lost")
        return Ending("upstream", why, client=(1011, why), error=error, closed="connection_lost")
    why = reason or "upstream closed"
    return Ending("upstream", why, client=(client_close_code(code), why), closed="connection_lost")


def refused_ending(status: int | None, detail: str) -> Ending:
    """Inworld refused the handshake: its HTTP `status` (None: unreachable or timed out)."""
    event, code, reason = upstream_refusal(status, detail)
    error = event["error"]
    refusal = live_error(error["message"], code=error["code"], error_type=error["type"])
    why = f"upstream handshake failed: {detail}"
    return Ending("upstream", why, client=(code, reason), error=refusal)


def slow_ending(who: str) -> Ending:
    """`who` (`client` or `upstream`) reads slower than the other side sends: 1013."""
    why, slow = f"{who} reads too slowly (limits.max_queued_bytes)", who == "upstream"
    error = live_limit_error("slow_reader") if slow else None
    closed = "connection_lost" if slow else None
    return Ending("proxy", why, (1013, f"{who} reads too slowly"), (1000, ""), error, closed)


def limit_ending(code: str, close_code: int, reason: str, *, started: bool) -> Ending:
    """A watchdog limit (`proxy.session.watchdog`): `started` is False while the client has
    not even sent `session.start` (then its start deadline is the client's)."""
    if code == "upstream_timeout" and not started:
        why = "no session.start"
        message = "No session.start within limits.session_start_timeout seconds."
        error = live_error(message, code="session_start_timeout")
        return Ending("proxy", why, client=(1008, why), upstream=(1000, ""), error=error)
    closed = _EXPIRED.get(code, "connection_lost")
    error = live_limit_error(code)
    return Ending("proxy", reason, (close_code, reason), (1000, reason), error, closed)


async def close_links(
    client: Link,
    upstream: Link | None,
    end: SessionEnd,
    closes: tuple[Close | None, Close | None],
    patience: float,
) -> None:
    """Close both links at once (neither side's Close waits behind the other's), with
    `closes` = (the client's, Inworld's) code and reason (None: 1000), each waiting at most
    `patience` seconds for its peer (`limits.close_timeout`)."""
    close_client, close_upstream = closes
    closing = []
    if upstream is not None:
        code, reason = close_upstream or (1000, "")
        if upstream.ended is None:
            end.upstream_code = end.upstream_code or code
        closing.append(upstream.close(code, reason, patience))
    code, reason = close_client or (1000, "")
    if client.ended is None:
        end.client_code = end.client_code or code
    closing.append(client.close(code, reason, patience))
    await asyncio.gather(*closing)

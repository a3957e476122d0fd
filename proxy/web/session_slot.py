"""A session's place in the proxy, start to end: admission, its slot, its closing accounting.

Shared by the three session handlers (`proxy.web.realtime`, `proxy.web.live`,
`proxy.web.calls`), which differ only in their transport and their log fields:

- `refuse_draining`: a new session while the proxy drains is answered `503` `proxy_draining`
  (counted as `sessions_refused{reason="draining"}`);
- `take_slot`: `limits.max_sessions`, then the credential's own cap (`proxy.web.caps`); on
  success the owner's cap slot is held until `vacate` (or `release_owner`) gives it back;
  `refuse_socket` answers a refused WebSocket with the `error` event and close code 1013;
- `abandon`: a session that failed before it started gives back its link and cap slot;
- `occupy` / `vacate`: the app's `SESSIONS` set and `lifecycle.idle` (drain waits for it);
- `end_session`: counts an ended session (handshake failures, a lost upstream, the session's
  outcome, the route's variant) and writes its one `session_end` log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from proxy.config import Config
from proxy.core.error_events import upstream_refusal
from proxy.metrics.observe import SessionObserver
from proxy.session.ending import SessionEnd
from proxy.session.route import SessionRoute
from proxy.web.appkeys import CAPS, LIFECYCLE, METRICS, ROUTE_METRICS, SESSIONS
from proxy.web.caps import owner_cap, refusal
from proxy.ws.handover import ClientSocket
from proxy.ws.link import Link

__all__ = [
    "Refusal",
    "abandon",
    "draining_response",
    "end_session",
    "occupy",
    "refuse_draining",
    "refuse_socket",
    "release_owner",
    "take_slot",
    "vacate",
]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a session was not admitted."""

    reason: str  # the `sessions_refused` label
    code: str  # the `error` code (`proxy.core.error_events.LIMIT_ERRORS`)
    limit: int  # the limit it hit (logged)
    close_reason: bytes  # the WebSocket close reason (code 1013)


def draining_response() -> web.Response:
    """The JSON answer to a new session while the proxy shuts down (before any upgrade)."""
    return web.json_response(
        {
            "error": {
                "type": "server_error",
                "code": "proxy_draining",
                "message": "The proxy is shutting down and accepts no new sessions; reconnect.",
            }
        },
        status=503,
        headers={"Retry-After": "1"},
    )


def refuse_draining(app: web.Application) -> web.Response | None:
    """The `503` answer (counted) when the proxy drains, else None."""
    if not app[LIFECYCLE].draining:
        return None
    app[METRICS].sessions_refused.labels("draining").inc()
    return draining_response()


def take_slot(app: web.Application, cfg: Config, owner: str | None) -> Refusal | None:
    """Admit one more session: None when it may run (then `owner`'s cap slot is held), else
    why not (counted in `sessions_refused`). Never awaits: the caller adds the session to
    `SESSIONS` (`occupy`) before its next await."""
    if len(app[SESSIONS]) >= cfg.limits.max_sessions:
        refused = Refusal(
            "max_sessions", "session_limit", cfg.limits.max_sessions, b"too many sessions"
        )
    elif owner is not None and not app[CAPS].acquire(owner, owner_cap(cfg, owner)):
        reason, code = refusal(owner)
        refused = Refusal(
            reason, code, owner_cap(cfg, owner), b"too many sessions for this credential"
        )
    else:
        return None
    app[METRICS].sessions_refused.labels(refused.reason).inc()
    return refused


async def refuse_socket(
    client: ClientSocket, log: Any, refused: Refusal, error: Callable[[str], str]
) -> ClientSocket:
    """Log the refusal, send the client `error(code)` and close it with 1013."""
    log.warning("session_refused", reason=refused.reason, limit=refused.limit)
    await client.send_str(error(refused.code))
    await client.close(code=1013, message=refused.close_reason)
    return client


def release_owner(app: web.Application, owner: str | None) -> None:
    """Give back the cap slot `take_slot` took for `owner` (None: nothing to give back)."""
    if owner is not None:
        app[CAPS].release(owner)


def abandon(app: web.Application, link: Link, owner: str | None) -> None:
    """A session that failed before it started: drop its client link, free `owner`'s slot."""
    link.abort()
    link.release()
    release_owner(app, owner)


def occupy(app: web.Application, session: Any) -> None:
    """Count `session` as live: `limits.max_sessions` and drain see it."""
    app[SESSIONS].add(session)
    app[LIFECYCLE].idle.clear()


def vacate(app: web.Application, session: Any, owner: str | None = None) -> None:
    """Undo `occupy` (and `owner`'s cap slot); the proxy is idle when no session is left."""
    release_owner(app, owner)
    app[SESSIONS].discard(session)
    if not app[SESSIONS]:
        app[LIFECYCLE].idle.set()


def end_session(
    app: web.Application,
    log: Any,
    observer: SessionObserver,
    end: SessionEnd,
    *,
    route: SessionRoute | None,
    dialect: str,
    head: dict[str, Any],
    tail: dict[str, Any],
    websocket: bool = True,
) -> None:
    """Count an ended session and write its `session_end` line: the `head` fields, then
    `outcome` ... `duration_s`, then the `tail` fields. `websocket=False` (a WebRTC call): the
    client has no close code, and a lost upstream is not counted as an error."""
    metrics = app[METRICS]
    if end.handshake_failed:
        metrics.upstream_handshake_failures.labels(str(end.upstream_status or "none")).inc()
        event, _, _ = upstream_refusal(end.upstream_status, end.reason)
        observer.count_error("handshake", event["error"]["code"])
    elif websocket and end.ended_by == "upstream" and end.upstream_code == 1006:
        observer.count_error("upstream", "upstream_connection_lost")
    metrics.session_ended(
        observer,
        outcome=end.outcome,
        client_code=end.client_code if websocket else None,
        duration=time.monotonic() - end.started,
        dialect=dialect,
    )
    if route is not None:
        route.account(app[ROUTE_METRICS], observer, end)
    fields: dict[str, Any] = {
        "outcome": end.outcome,
        "ended_by": end.ended_by,
        "reason": end.reason,
    }
    if websocket:
        fields["client_close_code"] = end.client_code
    fields.update(
        upstream_close_code=end.upstream_code,
        upstream_status=end.upstream_status,
        messages_from_client=end.frames_up,
        messages_from_upstream=end.frames_down,
        responses=observer.responses,
        turns=observer.turns,
        duration_s=round(time.monotonic() - end.started, 3),
    )
    log.info("session_end", **head, **fields, **tail)

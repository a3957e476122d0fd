"""One client connection, start to end: accept, build the core, relay, log, count.

`realtime_handler` is the aiohttp handler for `/v1/realtime` and `/realtime`. It accepts the
client's WebSocket (answering sub-protocol `realtime` when offered), creates a `Translator` and
a `Relay`, and writes exactly one log line when the session starts and one when it ends.
The client's own `Authorization` and `OpenAI-Beta` headers are read by nobody here and never
reach the upstream (`proxy.upstream.inworld` builds its headers from configuration only).
"""

from __future__ import annotations

import time
import uuid

from aiohttp import web
from multidict import CIMultiDict

from proxy.core.dialect import detect_dialect
from proxy.core.error_events import limit_error, upstream_refusal
from proxy.metrics.collectors import Metrics
from proxy.metrics.observe import SessionObserver
from proxy.metrics.routes import VariantSink
from proxy.session.relay import Relay, SessionEnd
from proxy.session.route import ClientSide, SessionRoute
from proxy.session.shadow import shadow_for
from proxy.upstream.inworld import new_session_key
from proxy.web.appkeys import (
    CAPS,
    LIFECYCLE,
    LIVE_CONFIG,
    LOGGER,
    METRICS,
    ROUTE_METRICS,
    SESSIONS,
    UNFINISHED,
    UPSTREAM_TLS,
)
from proxy.web.auth import presented_credential
from proxy.web.caps import owner_cap, pinned_session, refusal
from proxy.web.guard import OWNER, PRESET_SESSION
from proxy.ws.handover import ClientSocket
from proxy.ws.link import Link

__all__ = ["draining_response", "offered_subprotocols", "realtime_handler", "websocket_required"]


def _without_subprotocols(request: web.Request) -> CIMultiDict[str]:
    headers = CIMultiDict(request.headers)
    headers.popall("Sec-WebSocket-Protocol", None)
    return headers


def offered_subprotocols(request: web.Request) -> list[str]:
    """The sub-protocols the client offered (may include credentials: never log them)."""
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [item.strip() for item in header.split(",") if item.strip()]


def websocket_required() -> web.Response:
    """The JSON answer to a plain HTTP request on a WebSocket endpoint."""
    return web.json_response(
        {
            "error": {
                "type": "invalid_request_error",
                "code": "websocket_required",
                "message": "This endpoint speaks WebSocket: connect with an OpenAI Realtime "
                "client (ws://HOST:PORT/v1/realtime?model=...).",
            }
        },
        status=426,
        headers={"Upgrade": "websocket"},
    )


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


async def realtime_handler(request: web.Request) -> web.StreamResponse:
    """Serve one OpenAI Realtime client connection until either side ends it."""
    app = request.app
    # The live configuration (reloaded on SIGHUP), read once: this session keeps this snapshot.
    cfg, metrics, route_metrics = app[LIVE_CONFIG].config, app[METRICS], app[ROUTE_METRICS]
    offered = offered_subprotocols(request)
    if offered and "realtime" not in offered:
        # aiohttp would log the whole offered list (keys included) when nothing matches.
        request = request.clone(headers=_without_subprotocols(request))
    client = ClientSocket(
        protocols=("realtime",),  # the only sub-protocol the proxy selects
        max_msg_size=cfg.server.max_message_bytes,
        heartbeat=None,  # the link keeps the heartbeat once it owns the socket
        compress=False,  # the relay forwards frames as received: no permessage-deflate
    )
    if not client.can_prepare(request).ok:
        return websocket_required()
    lifecycle = app[LIFECYCLE]
    if lifecycle.draining:
        metrics.sessions_refused.labels("draining").inc()
        return draining_response()
    session_id = f"sess_{uuid.uuid4().hex[:20]}"  # the proxy's own id, for logs
    session_key = new_session_key()  # Inworld's ?key=, a separate UUID4
    owner = request.get(OWNER)  # whose sessions this one counts against (proxy.web.caps)
    pinned, url_model = pinned_session(
        owner, request.get(PRESET_SESSION), request.query.get("model") or None
    )  # a token's model wins over ?model=
    dialect = detect_dialect(request.headers.get("OpenAI-Beta"), offered)
    log = app[LOGGER].bind(session_id=session_id, inworld_session_key=session_key)
    await client.prepare(request)
    if len(app[SESSIONS]) >= cfg.limits.max_sessions:  # no await between check and add
        metrics.sessions_refused.labels("max_sessions").inc()
        log.warning("session_refused", reason="max_sessions", limit=cfg.limits.max_sessions)
        await client.send_str(limit_error("session_limit"))
        await client.close(code=1013, message=b"too many sessions")
        return client
    if owner is not None and not app[CAPS].acquire(owner, owner_cap(cfg, owner)):
        reason, code = refusal(owner)
        metrics.sessions_refused.labels(reason).inc()
        log.warning("session_refused", reason=reason, limit=owner_cap(cfg, owner))
        await client.send_str(limit_error(code))
        await client.close(code=1013, message=b"too many sessions for this credential")
        return client
    link = Link(
        client_side=False,
        max_size=cfg.server.max_message_bytes,
        heartbeat=cfg.limits.heartbeat_interval or None,
        pong_backlog=2 * cfg.limits.max_queued_bytes,  # a slow reader is ended before this
    )
    client.hand_over(request, link)  # no await since prepare(): no frame was read by aiohttp
    try:  # until the relay owns the link, a failure must not leave it open
        preset = request.get(PRESET_SESSION)
        preset_model = preset.get("model") if preset else None
        route = SessionRoute(
            cfg,
            name=url_model or (preset_model if isinstance(preset_model, str) else None),
            client=ClientSide(
                url_model=url_model,
                intent=request.query.get("intent"),
                beta_header=request.headers.get("OpenAI-Beta"),
                client_key=presented_credential(request.headers, offered),
            ),
            headers=request.headers,
            session_id=session_id,
            tls=app[UPSTREAM_TLS],
        )
        translator = route.translator(
            dialect=dialect,
            preset=preset,
            transcription=request.query.get("intent") == "transcription",
        )
        if pinned is not None:
            translator.lock(pinned, cfg.tokens.locked_fields)
        observer = SessionObserver(
            VariantSink(metrics, route_metrics, lambda: route.labels),
            clock=time.monotonic,
            model_label=route.model_label,
            model=url_model,
            rewrites=translator.rewrites,
            refusals=translator.refusals,
        )
        metrics.session_started(observer)

        async def dial() -> Link:
            return await route.dial(
                translator,
                session_key=session_key,
                metrics=metrics,
                route_metrics=route_metrics,
                log=log,
            )

        log.info(
            "session_start",
            protocol="realtime",
            dialect=dialect,
            model=url_model,
            peer=request.remote,
            subprotocol=client.ws_protocol,
            **route.log_fields(),
        )
        unfinished = app[UNFINISHED]
        unfinished.limit = cfg.limits.max_unfinished_bytes  # the newest config's, after a reload
        relay = Relay(link, dial, translator, log, observer, limits=cfg.limits, budget=unfinished)
        shadow = shadow_for(
            route, translator, route_metrics=route_metrics, limits=cfg.limits, log=log
        )
        if shadow is not None:  # mirrored to a second upstream, never heard (docs/routing.md)
            relay.shadow = shadow.tap
    except BaseException:
        link.abort()
        link.release()
        if owner is not None:
            app[CAPS].release(owner)
        raise
    app[SESSIONS].add(relay)
    lifecycle.idle.clear()
    if shadow is not None:
        shadow.start()
    try:
        await relay.run()
    finally:  # also when the handler is cancelled: the accounting below never awaits
        link.release()
        if owner is not None:
            app[CAPS].release(owner)
        app[SESSIONS].discard(relay)
        if not app[SESSIONS]:
            lifecycle.idle.set()
        _account(metrics, observer, relay.end, dialect=dialect)
        route.account(route_metrics, observer, relay.end)
        log.info(
            "session_end",
            protocol="realtime",
            dialect=dialect,
            model=translator.names.model or url_model,
            inworld_model=observer.model,
            voice=translator.names.voice,
            outcome=relay.end.outcome,
            ended_by=relay.end.ended_by,
            reason=relay.end.reason,
            client_close_code=relay.end.client_code,
            upstream_close_code=relay.end.upstream_code,
            upstream_status=relay.end.upstream_status,
            messages_from_client=relay.end.frames_up,
            messages_from_upstream=relay.end.frames_down,
            responses=observer.responses,
            turns=observer.turns,
            duration_s=round(time.monotonic() - relay.end.started, 3),
            fallbacks=route.fallbacks,
            **route.log_fields(),
        )
        if shadow is not None:  # after the client's accounting: bounded by close_timeout
            await shadow.finish()
    return client


def _account(metrics: Metrics, observer: SessionObserver, end: SessionEnd, *, dialect: str) -> None:
    """Count an ended session: its outcome, errors, and the observer's counters."""
    if end.handshake_failed:
        metrics.upstream_handshake_failures.labels(str(end.upstream_status or "none")).inc()
        refusal, _, _ = upstream_refusal(end.upstream_status, end.reason)
        observer.count_error("handshake", refusal["error"]["code"])
    elif end.ended_by == "upstream" and end.upstream_code == 1006:
        observer.count_error("upstream", "upstream_connection_lost")
    metrics.session_ended(
        observer,
        outcome=end.outcome,
        client_code=end.client_code,
        duration=time.monotonic() - end.started,
        dialect=dialect,
    )

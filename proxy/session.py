"""One client connection, start to end: accept, build the core, relay, log, count.

`realtime_handler` is the aiohttp handler for `/v1/realtime` and `/realtime`. It accepts the
client's WebSocket (answering sub-protocol `realtime` when offered), creates a `Translator` and
a `Relay`, and writes exactly one log line when the session starts and one when it ends.
The client's own `Authorization` and `OpenAI-Beta` headers are read by nobody here and never
reach the upstream (`proxy.upstream` builds its headers from configuration only).
"""

from __future__ import annotations

import time

import aiohttp
from aiohttp import web

from proxy.appkeys import CONFIG, HTTP, LIFECYCLE, LOGGER, METRICS, SOCKETS
from proxy.errors import limit_error
from proxy.flow import ClientSocket
from proxy.relay import Relay
from proxy.translate import Translator
from proxy.upstream import connect, new_session_key

__all__ = ["draining_response", "realtime_handler", "websocket_required"]


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
    cfg, metrics = app[CONFIG], app[METRICS]
    heartbeat = cfg.limits.heartbeat_interval or None
    client = ClientSocket(
        protocols=("realtime",),  # the only sub-protocol the proxy selects
        max_msg_size=cfg.server.max_message_bytes,
        autoping=True,
        heartbeat=heartbeat,
    )
    if not client.can_prepare(request).ok:
        return websocket_required()
    lifecycle = app[LIFECYCLE]
    if lifecycle.draining:
        metrics.sessions_refused.labels("draining").inc()
        return draining_response()
    session_key = new_session_key()
    url_model = request.query.get("model") or None
    log = app[LOGGER].bind(session_id=session_key, model=url_model)
    await client.prepare(request)
    if len(app[SOCKETS]) >= cfg.limits.max_sessions:  # no await between check and add
        metrics.sessions_refused.labels("max_sessions").inc()
        log.warning("session_refused", reason="max_sessions", limit=cfg.limits.max_sessions)
        await client.send_str(limit_error("session_limit"))
        await client.close(code=1013, message=b"too many sessions")
        return client
    app[SOCKETS].add(client)
    lifecycle.idle.clear()
    metrics.sessions_active.inc()

    async def dial() -> aiohttp.ClientWebSocketResponse:
        started = time.monotonic()
        ws = await connect(
            app[HTTP],
            cfg.upstream,
            session_key,
            max_msg_size=cfg.server.max_message_bytes,
            heartbeat=heartbeat,
        )
        log.debug("upstream_connected", seconds=round(time.monotonic() - started, 4))
        return ws

    translator = Translator(cfg.rules, url_model=url_model)
    log.info("session_start", peer=request.remote, subprotocol=client.ws_protocol)
    try:
        end = await Relay(client, dial, translator, log, limits=cfg.limits).run()
    finally:
        app[SOCKETS].discard(client)
        if not app[SOCKETS]:
            lifecycle.idle.set()
        metrics.sessions_active.dec()
    duration = time.monotonic() - end.started
    metrics.sessions.labels(end.ended_by).inc()
    metrics.session_duration.observe(duration)
    if end.handshake_failed:
        metrics.upstream_handshake_failures.labels(str(end.upstream_status or "none")).inc()
    log.info(
        "session_end",
        ended_by=end.ended_by,
        reason=end.reason,
        client_close_code=end.client_code,
        upstream_close_code=end.upstream_code,
        upstream_status=end.upstream_status,
        frames_from_client=end.frames_up,
        frames_from_upstream=end.frames_down,
        voice=translator.names.voice,
        duration_s=round(duration, 3),
    )
    return client

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
from proxy.core.error_events import limit_error
from proxy.metrics.observe import SessionObserver
from proxy.metrics.routes import VariantSink
from proxy.session.relay import Relay
from proxy.session.route import ClientSide, SessionRoute
from proxy.session.shadow import shadow_for
from proxy.upstream.inworld import new_session_key
from proxy.web import session_slot as slots
from proxy.web.appkeys import LIVE_CONFIG, LOGGER, METRICS, ROUTE_METRICS, UNFINISHED, UPSTREAM_TLS
from proxy.web.auth import presented_credential
from proxy.web.caps import pinned_session
from proxy.web.guard import OWNER, PRESET_SESSION
from proxy.web.session_slot import draining_response
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
    if (draining := slots.refuse_draining(app)) is not None:
        return draining
    session_id = f"sess_{uuid.uuid4().hex[:20]}"  # the proxy's own id, for logs
    session_key = new_session_key()  # Inworld's ?key=, a separate UUID4
    owner = request.get(OWNER)  # whose sessions this one counts against (proxy.web.caps)
    pinned, url_model = pinned_session(
        owner, request.get(PRESET_SESSION), request.query.get("model") or None
    )  # a token's model wins over ?model=
    dialect = detect_dialect(request.headers.get("OpenAI-Beta"), offered)
    log = app[LOGGER].bind(session_id=session_id, inworld_session_key=session_key)
    await client.prepare(request)
    if (refused := slots.take_slot(app, cfg, owner)) is not None:  # no await between check and add
        return await slots.refuse_socket(client, log, refused, limit_error)
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
        relay = Relay(
            link,
            dial,
            translator,
            log,
            observer,
            limits=cfg.limits,
            budget=unfinished,
            native_lane=cfg.server.native_lane,
        )
        shadow = shadow_for(
            route, translator, route_metrics=route_metrics, limits=cfg.limits, log=log
        )
        if shadow is not None:  # mirrored to a second upstream, never heard (docs/routing.md)
            relay.shadow = shadow.tap
    except BaseException:
        slots.abandon(app, link, owner)
        raise
    slots.occupy(app, relay)
    if shadow is not None:
        shadow.start()
    try:
        await relay.run()
    finally:  # also when the handler is cancelled: the accounting below never awaits
        link.release()
        slots.vacate(app, relay, owner)
        slots.end_session(
            app,
            log,
            observer,
            relay.end,
            route=route,
            dialect=dialect,
            head={
                "protocol": "realtime",
                "dialect": dialect,
                "model": translator.names.model or url_model,
                "inworld_model": observer.model,
                "voice": translator.names.voice,
            },
            tail={"fallbacks": route.fallbacks, **route.log_fields()},
        )
        if shadow is not None:  # after the client's accounting: bounded by close_timeout
            await shadow.finish()
    return client

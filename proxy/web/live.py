"""`/v1/live/sessions`: one OpenAI Live client connection, start to end (docs/live.md).

`live_handler` accepts the WebSocket (no sub-protocol: Live has none,
docs/protocol-notes.md#openai-live-connection), counts it against `limits.max_sessions` and
the credential's own cap like a Realtime session, builds a `LiveTranslator` and a `LiveRelay`,
and writes one log line when the session starts and one when it ends (`protocol="live"`). The
model is in the client's first message, so the route (`proxy.session.route`) is chosen when it
arrives: the relay's `dial` builds it then. Live sessions are served from Inworld only: a
route's `openai` variants are skipped (a route with nothing else falls back to `[models]`),
and no shadow runs. The client's credential is checked by the guard and never reaches Inworld.

`POST /v1/live/sessions` (Live over WebRTC) is answered `501`: not served.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiohttp import web
from multidict import CIMultiDict

from proxy.config import Config, Rules
from proxy.core.live import LiveTranslator
from proxy.core.live_events import live_limit_error
from proxy.metrics.labels import model_labeler
from proxy.metrics.observe import SessionObserver
from proxy.metrics.routes import RouteLabels, VariantSink
from proxy.session.live_relay import LiveRelay
from proxy.session.route import Candidate, ClientSide, SessionRoute
from proxy.upstream.inworld import new_session_key
from proxy.web import session_slot as slots
from proxy.web.appkeys import LIVE_CONFIG, LOGGER, METRICS, ROUTE_METRICS, UNFINISHED, UPSTREAM_TLS
from proxy.web.auth import presented_credential
from proxy.web.guard import OWNER
from proxy.web.realtime import offered_subprotocols
from proxy.ws.handover import ClientSocket
from proxy.ws.link import Link

__all__ = ["add_live_routes", "live_handler"]

PROTOCOL = "live"


def _websocket_required() -> web.Response:
    body = {
        "error": {
            "type": "invalid_request_error",
            "code": "websocket_required",
            "message": "This endpoint speaks WebSocket: connect with an OpenAI Live client "
            "(ws://HOST:PORT/v1/live/sessions, then session.start).",
        }
    }
    return web.json_response(body, status=426, headers={"Upgrade": "websocket"})


async def live_webrtc(_: web.Request) -> web.Response:
    """`POST /v1/live/sessions` (Live over WebRTC): not served (501)."""
    body = {
        "error": {
            "type": "invalid_request_error",
            "code": "unsupported_feature",
            "message": "Live over WebRTC is not served by this proxy; use the WebSocket "
            "/v1/live/sessions (docs/live.md).",
        }
    }
    return web.json_response(body, status=501)


def add_live_routes(app: web.Application, cfg: Config) -> None:
    """Register the Live endpoints (when `live.enabled`)."""
    if cfg.live.enabled:
        app.router.add_get("/v1/live/sessions", live_handler)
        app.router.add_post("/v1/live/sessions", live_webrtc)


class _Routes:
    """The session's route, once the client's `session.start` named the model."""

    def __init__(self, cfg: Config) -> None:
        self.route: SessionRoute | None = None
        self._default = model_labeler(cfg.rules)

    def labels(self) -> RouteLabels:
        return self.route.labels if self.route is not None else RouteLabels()

    def model_label(self, name: str | None) -> str:
        return self.route.model_label(name) if self.route is not None else self._default(name)


def _inworld_only(route: SessionRoute, cfg: Config) -> None:
    """Keep a route's Inworld candidates (Live is translated for Inworld only)."""
    kept = tuple(c for c in route.candidates if c.provider == "inworld")
    route.candidates = kept or (Candidate(None, cfg.rules),)
    route.current = route.candidates[0]


async def live_handler(request: web.Request) -> web.StreamResponse:
    """Serve one OpenAI Live client connection until either side ends it."""
    app = request.app
    cfg, metrics, route_metrics = app[LIVE_CONFIG].config, app[METRICS], app[ROUTE_METRICS]
    offered = offered_subprotocols(request)
    if offered:  # none is selected; aiohttp would log the offered list (it may hold a key)
        headers = CIMultiDict(request.headers)
        headers.popall("Sec-WebSocket-Protocol", None)
        request = request.clone(headers=headers)
    client = ClientSocket(
        protocols=(),
        max_msg_size=cfg.server.max_message_bytes,
        heartbeat=None,
        compress=False,
    )
    if not client.can_prepare(request).ok:
        return _websocket_required()
    if (draining := slots.refuse_draining(app)) is not None:
        return draining
    session_id = f"live_{uuid.uuid4().hex[:24]}"  # shown to the client as session.id
    session_key = new_session_key()
    owner = request.get(OWNER)
    log = app[LOGGER].bind(session_id=session_id, inworld_session_key=session_key)
    await client.prepare(request)
    if (refused := slots.take_slot(app, cfg, owner)) is not None:  # no await between check and add
        return await slots.refuse_socket(
            client, log, refused, lambda c: live_limit_error(c).decode()
        )
    link = Link(
        client_side=False,
        max_size=cfg.server.max_message_bytes,
        heartbeat=cfg.limits.heartbeat_interval or None,
        pong_backlog=2 * cfg.limits.max_queued_bytes,
    )
    client.hand_over(request, link)
    try:
        routes = _Routes(cfg)
        core = LiveTranslator(
            session_id=session_id,
            clock=asyncio.get_running_loop().time,
            wall=time.time,
            lead=cfg.live.output_lead_ms / 1000,
            client_delegation=cfg.live.client_delegation,
            max_duration=cfg.limits.max_session_duration,
        )
        observer = SessionObserver(
            VariantSink(metrics, route_metrics, routes.labels),
            clock=time.monotonic,
            model_label=routes.model_label,
            refusals=core.refusals,
            protocol=PROTOCOL,
        )
        client_key = presented_credential(request.headers, offered)

        async def dial(model: str) -> tuple[Link, Rules]:
            route = SessionRoute(
                cfg,
                name=model,
                client=ClientSide(url_model=model, client_key=client_key),
                headers=request.headers,
                session_id=session_id,
                tls=app[UPSTREAM_TLS],
            )
            _inworld_only(route, cfg)
            routes.route = route
            translator = route.translator(dialect="ga", preset=None, transcription=False)
            upstream = await route.dial(
                translator,
                session_key=session_key,
                metrics=metrics,
                route_metrics=route_metrics,
                log=log,
            )
            log.info("live_session_dialed", model=model, **route.log_fields())
            return upstream, translator.rules

        metrics.session_started(observer)
        log.info("session_start", protocol=PROTOCOL, peer=request.remote)
        unfinished = app[UNFINISHED]
        unfinished.limit = cfg.limits.max_unfinished_bytes
        relay = LiveRelay(
            link,
            dial,
            core,
            log,
            observer,
            limits=cfg.limits,
            budget=unfinished,
            usage_interval=cfg.live.usage_interval,
        )
    except BaseException:
        slots.abandon(app, link, owner)
        raise
    slots.occupy(app, relay)
    try:
        await relay.run()
    finally:  # also when the handler is cancelled: the accounting below never awaits
        link.release()
        slots.vacate(app, relay, owner)
        start = core.start
        slots.end_session(
            app,
            log,
            observer,
            relay.end,
            route=routes.route,
            dialect="ga",
            head={
                "protocol": PROTOCOL,
                "model": start.model if start is not None else None,
                "inworld_model": observer.model,
                "voice": start.voice
                if start is not None and isinstance(start.voice, str)
                else None,
                "delegation": start.delegation if start is not None else None,
            },
            tail=routes.route.log_fields() if routes.route is not None else {},
        )
    return client

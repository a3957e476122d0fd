"""One client connection, start to end: accept, build the core, relay, log, count.

`realtime_handler` is the aiohttp handler for `/v1/realtime` and `/realtime`. It accepts the
client's WebSocket (answering sub-protocol `realtime` when offered), creates a `Translator` and
a `Relay`, and writes exactly one log line when the session starts and one when it ends.
The client's own `Authorization` and `OpenAI-Beta` headers are read by nobody here and never
reach the upstream (`proxy.upstream` builds its headers from configuration only).
"""

from __future__ import annotations

import time
import uuid

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from proxy.appkeys import CONFIG, HTTP, LOGGER, METRICS, SOCKETS
from proxy.dialect import detect_dialect
from proxy.errors import upstream_refusal
from proxy.event_types import model_labeler
from proxy.guard import PRESET_SESSION
from proxy.metrics import Metrics
from proxy.observe import SessionObserver
from proxy.relay import Relay, SessionEnd
from proxy.translate import Translator
from proxy.upstream import connect, new_session_key

__all__ = ["offered_subprotocols", "realtime_handler", "websocket_required"]


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
    cfg, metrics = app[CONFIG], app[METRICS]
    offered = offered_subprotocols(request)
    if offered and "realtime" not in offered:
        # aiohttp would log the whole offered list (keys included) when nothing matches.
        request = request.clone(headers=_without_subprotocols(request))
    client = web.WebSocketResponse(
        protocols=("realtime",),  # the only sub-protocol the proxy selects
        max_msg_size=cfg.server.max_message_bytes,
        autoping=True,
    )
    if not client.can_prepare(request).ok:
        return websocket_required()
    session_id = f"sess_{uuid.uuid4().hex[:20]}"  # the proxy's own id, for logs
    session_key = new_session_key()  # Inworld's ?key=, a separate UUID4
    url_model = request.query.get("model") or None
    dialect = detect_dialect(request.headers.get("OpenAI-Beta"), offered)
    log = app[LOGGER].bind(session_id=session_id, inworld_session_key=session_key)
    await client.prepare(request)
    app[SOCKETS].add(client)
    translator = Translator(
        cfg.rules,
        url_model=url_model,
        dialect=dialect,
        preset=request.get(PRESET_SESSION),
        transcription=request.query.get("intent") == "transcription",
    )
    observer = SessionObserver(
        metrics,
        clock=time.monotonic,
        model_label=model_labeler(cfg.rules),
        model=url_model,
        rewrites=translator.rewrites,
        refusals=translator.refusals,
    )
    metrics.session_started(observer)

    async def dial() -> aiohttp.ClientWebSocketResponse:
        started = time.monotonic()
        ws = await connect(
            app[HTTP], cfg.upstream, session_key, max_msg_size=cfg.server.max_message_bytes
        )
        seconds = time.monotonic() - started
        metrics.upstream_connect.observe(seconds)
        log.debug("upstream_connected", seconds=round(seconds, 4))
        return ws

    log.info(
        "session_start",
        dialect=dialect,
        model=url_model,
        peer=request.remote,
        subprotocol=client.ws_protocol,
    )
    relay = Relay(client, dial, translator, log, observer)
    try:
        await relay.run()
    finally:  # also when the handler is cancelled: the accounting below never awaits
        app[SOCKETS].discard(client)
        _account(metrics, observer, relay.end, dialect=dialect)
        log.info(
            "session_end",
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
        )
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

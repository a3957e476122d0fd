"""WebRTC signalling: `POST /v1/realtime/calls` (and the beta `POST /v1/realtime?model=`),
`POST /v1/realtime/calls/{call_id}/hangup`.

As OpenAI serves them (docs/protocol-notes.md#openai-webrtc-signalling): the body is the
offer (`application/sdp`), or `multipart/form-data` with parts `sdp` and `session`; success is
`201 Created` with the SDP answer (`application/sdp`) and `Location:
/v1/realtime/calls/rtc_...`; a bad request is a `400` OpenAI-shaped JSON error. The guard has
already applied the WebSocket path's rules (client keys, ephemeral tokens, Origin) and adds the
CORS headers. A call counts against `limits.max_sessions` like a session, is refused while
draining, and is shut down with the others on SIGTERM.

WebRTC is the optional `webrtc` extra: aiortc is imported only inside `proxy.webrtc`, and
without it these endpoints answer `501` naming the extra.

Each call runs in a task the app keeps (`CALLS`) until it ends; this module writes its
`session_start` / `session_end` log lines and counts it, as `proxy.web.realtime` does for a
WebSocket session.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from proxy.core.dialect import Dialect
from proxy.core.error_events import LIMIT_ERRORS
from proxy.core.translate import Translator
from proxy.metrics.observe import SessionObserver
from proxy.metrics.routes import VariantSink
from proxy.session.route import ClientSide, SessionRoute
from proxy.upstream.inworld import new_session_key
from proxy.web import session_slot as slots
from proxy.web.appkeys import LIVE_CONFIG, LOGGER, METRICS, ROUTE_METRICS, UPSTREAM_TLS
from proxy.web.auth import presented_credential
from proxy.web.caps import is_token, pinned_session
from proxy.web.guard import OWNER, PRESET_SESSION, json_error

__all__ = ["CALLS", "CallTasks", "add_call_routes", "beta_call", "create_call", "hangup"]

EXTRA = "webrtc"
_ANSWER_TIMEOUT = 15.0  # aiortc's gathering waits up to 5 s per STUN/TURN server


@dataclass(slots=True)
class CallTasks:
    """Live calls by id, with the task serving each (the app keeps them, not the request)."""

    calls: dict[str, Any] = field(default_factory=dict)  # call id -> proxy.webrtc.call.Call
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    available: bool = False  # the `webrtc` extra imported at start-up


CALLS = web.AppKey("calls", CallTasks)


def webrtc_available() -> bool:
    """True when the `webrtc` extra (aiortc, PyAV) imports. Called once, at start-up: the
    first import of their C extensions takes a noticeable time and would stall every session
    on the event loop. aiortc's and aioice's own INFO lines (one per ICE check, with addresses)
    are turned down to warnings: the call's log lines say what matters."""
    try:
        import proxy.webrtc.call  # noqa: F401
    except ImportError:
        return False
    for library in ("aiortc", "aioice"):
        logging.getLogger(library).setLevel(logging.WARNING)
    return True


def _unavailable() -> web.Response:
    return json_error(
        501,
        "webrtc_unavailable",
        "WebRTC calls need the proxy's optional 'webrtc' extra "
        "(pip install 'inworld-realtime-proxy[webrtc]'); the container image includes it.",
    )


async def create_call(request: web.Request) -> web.Response:
    """`POST /v1/realtime/calls`: answer an offer and start the call (GA)."""
    return await _call(request, dialect="ga", url_model=request.query.get("model") or None)


async def beta_call(request: web.Request) -> web.StreamResponse:
    """`POST /v1/realtime?model=...`: the beta WebRTC form (an `application/sdp` offer)."""
    return await _call(request, dialect="beta", url_model=request.query.get("model") or None)


async def hangup(request: web.Request) -> web.Response:
    """`POST /v1/realtime/calls/{call_id}/hangup`: end a live call (200), or 404."""
    call = request.app[CALLS].calls.get(request.match_info["call_id"])
    if call is None:
        return json_error(404, "call_not_found", "No live call has this id.")
    call.shut_down(1000, "hung up")
    return web.json_response({})


async def _call(request: web.Request, *, dialect: Dialect, url_model: str | None) -> web.Response:
    if not request.app[CALLS].available:
        return _unavailable()
    from proxy.webrtc.offer import RequestError, read_offer
    from proxy.webrtc.sdp import OfferError, check_offer, new_call_id

    app = request.app
    cfg = app[LIVE_CONFIG].config
    if (draining := slots.refuse_draining(app)) is not None:
        return draining
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, "invalid_offer", "The request body is too large.")
    try:
        offer = read_offer(request.headers.get("Content-Type", ""), body)
        summary = check_offer(offer.sdp)
    except RequestError as exc:
        return json_error(400, exc.code, str(exc))
    except OfferError as exc:
        return json_error(400, "invalid_offer", str(exc))
    owner = request.get(OWNER)  # whose sessions this call counts against (proxy.web.caps)
    if (refused := slots.take_slot(app, cfg, owner)) is not None:
        response = json_error(429, refused.code, LIMIT_ERRORS[refused.code][1])
        response.headers["Retry-After"] = "1"
        return response
    token_session = request.get(PRESET_SESSION)
    # A token holder may not replace the token's session with a multipart `session` part.
    preset = token_session if is_token(owner) or offer.session is None else offer.session
    pinned, url_model = pinned_session(owner, token_session, url_model)
    call_id = new_call_id()
    try:
        served = await _start(
            request, call_id, offer.sdp, preset, dialect=dialect, url_model=url_model,
            owner=owner, pinned=pinned,
        )  # fmt: skip
    except BaseException:
        slots.release_owner(app, owner)
        raise
    if isinstance(served, web.Response):
        slots.release_owner(app, owner)
        return served
    app[LOGGER].bind(call_id=call_id).debug(
        "webrtc_offer", audio_codecs=",".join(summary.audio_codecs), candidates=summary.candidates
    )
    return web.Response(
        status=201,
        body=served.encode(),
        content_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{call_id}"},
    )


async def _start(
    request: web.Request,
    call_id: str,
    offer: str,
    preset: dict[str, Any] | None,
    *,
    dialect: Dialect,
    url_model: str | None,
    owner: str | None = None,
    pinned: dict[str, Any] | None = None,
) -> str | web.Response:
    """Build the call, answer its offer, start its task; the answer SDP or an error. Once the
    task runs, it releases `owner`'s slot when the call ends (`pinned`: a token's fixed
    session, locked for the call as on the WebSocket path)."""
    from proxy.webrtc.call import Call

    app = request.app
    cfg, metrics, route_metrics = app[LIVE_CONFIG].config, app[METRICS], app[ROUTE_METRICS]
    session_id = f"sess_{uuid.uuid4().hex[:20]}"
    session_key = new_session_key()
    log = app[LOGGER].bind(session_id=session_id, call_id=call_id, inworld_session_key=session_key)
    preset_model = preset.get("model") if preset else None
    route = SessionRoute(
        cfg,
        name=url_model or (preset_model if isinstance(preset_model, str) else None),
        client=ClientSide(
            url_model=url_model, client_key=presented_credential(request.headers, ())
        ),
        headers=request.headers,
        session_id=session_id,
        tls=app[UPSTREAM_TLS],
    )
    translator = route.translator(dialect=dialect, preset=preset, transcription=False)
    if pinned is not None:
        translator.lock(pinned, cfg.tokens.locked_fields)
    observer = SessionObserver(
        VariantSink(metrics, route_metrics, lambda: route.labels, transport="webrtc"),
        clock=time.monotonic,
        model_label=route.model_label,
        model=url_model,
        rewrites=translator.rewrites,
        refusals=translator.refusals,
        transport="webrtc",
    )

    async def dial() -> Any:
        return await route.dial(
            translator,
            session_key=session_key,
            metrics=metrics,
            route_metrics=route_metrics,
            log=log,
        )

    call = Call(
        webrtc=cfg.webrtc,
        limits=cfg.limits,
        dial=dial,
        translator=translator,
        log=log,
        observer=observer,
        metrics=metrics.calls,
    )
    slots.occupy(app, call)  # the slot is taken before the first await
    try:
        async with asyncio.timeout(_ANSWER_TIMEOUT):
            answer = await call.answer(offer)
    except (ValueError, TimeoutError) as exc:
        await call.close()
        slots.vacate(app, call)
        log.warning("call_refused", reason="invalid_offer", detail=str(exc)[:200])
        return json_error(400, "invalid_offer", "The SDP offer could not be answered.")
    except BaseException:
        await call.close()
        slots.vacate(app, call)
        raise
    metrics.session_started(observer)
    log.info(
        "session_start",
        transport="webrtc",
        dialect=dialect,
        model=url_model,
        peer=request.remote,
        **route.log_fields(),
    )
    calls = app[CALLS]
    calls.calls[call_id] = call
    task = asyncio.get_running_loop().create_task(
        _serve(
            app, call_id, call, translator, observer, route, log, url_model=url_model, owner=owner
        ),
        name=f"call-{call_id}",
    )
    calls.tasks.add(task)
    task.add_done_callback(calls.tasks.discard)
    return answer


async def _serve(
    app: web.Application,
    call_id: str,
    call: Any,
    translator: Translator,
    observer: SessionObserver,
    route: SessionRoute,
    log: Any,
    *,
    url_model: str | None,
    owner: str | None = None,
) -> None:
    """Run one call to its end, then count it and write its `session_end` line."""
    try:
        await call.run()
    finally:
        app[CALLS].calls.pop(call_id, None)
        slots.vacate(app, call, owner)
        names = translator.names
        slots.end_session(
            app,
            log,
            observer,
            call.end,
            route=route,
            dialect=translator.dialect,
            head={
                "transport": "webrtc",
                "dialect": translator.dialect,
                "model": names.model or url_model,
                "inworld_model": observer.model,
                "voice": names.voice,
            },
            tail={**call.stats, **route.log_fields()},
            websocket=False,
        )


async def _preflight(_: web.Request) -> web.Response:
    return web.Response(status=204)  # the guard answers preflights; this only routes them


async def _stop_calls(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: on the way down, end the calls still running and wait for them."""
    app[CALLS] = CallTasks(available=webrtc_available())
    yield
    calls = app[CALLS]
    for call in list(calls.calls.values()):
        call.shut_down()
    if calls.tasks:
        await asyncio.wait(list(calls.tasks), timeout=10)
    for task in list(calls.tasks):
        task.cancel()


def add_call_routes(app: web.Application) -> None:
    """Register the WebRTC routes and the app's call registry on `app`."""
    app.cleanup_ctx.append(_stop_calls)
    for path in ("/v1/realtime/calls", "/realtime/calls"):
        app.router.add_post(path, create_call)
        app.router.add_route("OPTIONS", path, _preflight)
    app.router.add_post("/v1/realtime", beta_call)
    app.router.add_post("/realtime", beta_call)
    app.router.add_post("/v1/realtime/calls/{call_id}/hangup", hangup)

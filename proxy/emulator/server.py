"""The emulator's thin aiohttp shell: handshake checks, frame I/O, pacing and keep-alive.

All protocol rules live in the pure ``engine``; this module only moves frames
(docs/emulator.md#handshake; refusals and pings: docs/protocol-notes.md#inworld-session-lifecycle,
cited as ``#inworld-session-lifecycle`` below).

Tests inspect ``app[EMULATOR_SESSIONS]``: one ``EmulatorConnection`` per session ``key``,
kept after the socket closes.
"""

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from aiohttp import WSCloseCode, WSMsgType, hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from .auth import AuthError, Credential, authenticate, parse_subprotocols, select_subprotocol
from .engine import EmulatorSession
from .faults import Fault, FaultPlan
from .ids import Event
from .latency import LatencyProfile
from .router import add_router_routes
from .settings import EmulatorSettings
from .voices import VOICE_STORE, VoiceStore, add_voice_routes

__all__ = [
    "EMULATOR_FAULTS",
    "EMULATOR_PATH",
    "EMULATOR_SESSIONS",
    "EMULATOR_SETTINGS",
    "EmulatorConnection",
    "create_emulator_app",
]

EMULATOR_PATH = "/api/v1/realtime/session"
"""The realtime endpoint path, as on ``api.inworld.ai``
(docs/protocol-notes.md#inworld-endpoint)."""


@dataclass(eq=False)
class EmulatorConnection:
    """What one upgraded connection looked like, for tests. Kept after close.

    ``headers`` are the request headers exactly as received (case-insensitive lookup), so a
    test can assert that no ``OpenAI-Beta`` header or client Bearer key reached "Inworld".
    """

    key: str
    engine: EmulatorSession
    headers: CIMultiDictProxy[str]
    query: dict[str, str]
    offered_subprotocols: tuple[str, ...]
    subprotocol: str | None
    credential: Credential
    sent_event_types: list[str] = field(default_factory=list)
    closed: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the session has ended (``closed`` and ``close_code`` are then final)."""
    close_code: int | None = None
    """The code that ended the session: the emulator's own when it closed first (1001 on
    shutdown, 1011 on an internal error), else the client's."""

    @property
    def session_config(self) -> Event:
        """The effective Inworld session (``engine.session_config``)."""
        return self.engine.session_config

    @property
    def client_events(self) -> list[Event]:
        """Client events received, audio elided (``engine.client_events``)."""
        return list(self.engine.client_events)

    @property
    def client_event_types(self) -> list[str]:
        """Types of the client events received, in order."""
        return self.engine.client_event_types


EMULATOR_SETTINGS = web.AppKey("emulator_settings", EmulatorSettings)
EMULATOR_SESSIONS = web.AppKey("emulator_sessions", dict[str, EmulatorConnection])
EMULATOR_FAULTS = web.AppKey("emulator_faults", FaultPlan)
_OPEN_SOCKETS = web.AppKey("emulator_open_sockets", dict[web.WebSocketResponse, EmulatorConnection])


def create_emulator_app(settings: EmulatorSettings) -> web.Application:
    """An aiohttp application serving the emulated Inworld endpoint at ``EMULATOR_PATH``
    (and the Router's REST endpoints, ``router.add_router_routes``, and the voices API,
    ``voices.add_voice_routes``).

    Open sockets are closed with 1001 on shutdown.
    """
    app = web.Application(client_max_size=_MAX_REST_BODY)
    app[EMULATOR_SETTINGS] = settings
    app[EMULATOR_SESSIONS] = {}
    app[EMULATOR_FAULTS] = FaultPlan(
        settings.fault, status=settings.fault_status, close_code=settings.fault_close_code
    )
    app[_OPEN_SOCKETS] = {}
    app.router.add_get(EMULATOR_PATH, _session_handler)
    add_router_routes(app, settings)  # the Router's REST endpoints (emulator/router.py)
    store = VoiceStore(settings.workspace, transcript=settings.input_transcript)
    add_voice_routes(app, settings, store)  # the voices API (emulator/voices.py)
    app.on_shutdown.append(_close_open_sockets)
    return app


_MAX_REST_BODY = 64 * 1024 * 1024
"""Largest REST request body: a clone carries several base64 samples of up to 4 MB each."""

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _json_error(status: int, grpc_status: str, message: str) -> web.Response:
    """A small Google-style JSON error body (Inworld's REST APIs use that envelope)."""
    body = {"error": {"code": status, "status": grpc_status, "message": message}}
    response = web.json_response(body, status=status, dumps=lambda o: orjson.dumps(o).decode())
    if status == 401:
        response.headers[hdrs.WWW_AUTHENTICATE] = 'Basic realm="inworld"'
    return response


async def _session_handler(request: web.Request) -> web.StreamResponse:
    """Refuse bad handshakes before the upgrade (docs/emulator.md#handshake); otherwise run one
    session."""
    settings = request.app[EMULATOR_SETTINGS]
    fault = request.app[EMULATOR_FAULTS].take()
    if fault is not None and fault.mode == "refuse":
        return _json_error(fault.status, _STATUS_NAMES.get(fault.status, "UNKNOWN"), "Fault.")
    offered = parse_subprotocols(request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL))
    try:
        credential = authenticate(request.headers.get(hdrs.AUTHORIZATION), offered, settings)
    except AuthError as exc:
        return _json_error(401, "UNAUTHENTICATED", exc.message)
    if request.query.get("protocol") != "realtime":
        return _json_error(
            400, "INVALID_ARGUMENT", "Query parameter 'protocol' must be 'realtime'."
        )
    chosen = select_subprotocol(offered)
    target: web.BaseRequest = request
    if offered and chosen is None:
        # aiohttp logs every offered sub-protocol (possibly a leaked key) when none overlaps;
        # answering without one is what the handshake would do anyway.
        headers = CIMultiDict(request.headers)
        del headers[hdrs.SEC_WEBSOCKET_PROTOCOL]
        target = request.clone(headers=headers)
    ws = web.WebSocketResponse(
        protocols=(chosen,) if chosen else (),
        max_msg_size=settings.max_msg_size,
        autoping=False,  # _Pump answers pings itself, so the stall fault can stop answering
    )
    if not ws.can_prepare(target).ok:
        return _json_error(400, "INVALID_ARGUMENT", "Expected a WebSocket upgrade request.")
    await ws.prepare(target)
    key = request.query.get("key")
    if not key:  # the prototype upgrades, then closes 1008 (#inworld-session-lifecycle)
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"No session key provided")
        return ws
    store = request.app[VOICE_STORE]
    record = EmulatorConnection(
        key=key,
        engine=EmulatorSession(
            settings, key, custom_voice=store.has if settings.known_custom_voices_only else None
        ),
        headers=CIMultiDictProxy(CIMultiDict(request.headers)),
        query=dict(request.query),
        offered_subprotocols=offered,
        subprotocol=chosen,
        credential=credential,
    )
    request.app[EMULATOR_SESSIONS][key] = record  # a reused key replaces the older record
    sockets = request.app[_OPEN_SOCKETS]
    sockets[ws] = record
    try:
        await _Pump(ws, record, settings, fault, request.transport).run()
    except Exception:  # the prototype closes 1011 on internal errors (#inworld-session-lifecycle)
        record.close_code = WSCloseCode.INTERNAL_ERROR
        await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"Internal server error")
        raise
    finally:
        del sockets[ws]
        record.closed = True
        if record.close_code is None:
            record.close_code = ws.close_code
        record.finished.set()
    return ws


async def _close_open_sockets(app: web.Application) -> None:
    """on_shutdown: close every open session with 1001 (going away)."""
    sockets: dict[web.WebSocketResponse, EmulatorConnection] = app[_OPEN_SOCKETS]
    for ws, record in list(sockets.items()):
        record.close_code = WSCloseCode.GOING_AWAY
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutdown")


class _Pump:
    """Moves frames for one session: reader, paced response sender, pinger."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        record: EmulatorConnection,
        settings: EmulatorSettings,
        fault: Fault | None = None,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self._ws = ws
        self._record = record
        self._engine = record.engine
        self._settings = settings
        self._wake = asyncio.Event()
        self._fault = fault
        self._transport = transport
        self._stalled = False
        self._latency = LatencyProfile(settings, record.key)

    async def run(self) -> None:
        """Send ``session.created``, then serve until the client or the server closes."""
        if self._fault is not None and self._fault.mode == "silent":
            self._stalled = True  # accept, then say nothing at all (pings are still answered)
        else:
            await self._send(self._engine.open())
        async with asyncio.TaskGroup() as tasks:
            sender = tasks.create_task(self._send_responses(), name="emulator-responses")
            pinger = None
            if self._settings.ping_interval > 0:
                pinger = tasks.create_task(self._send_pings(), name="emulator-pings")
            try:
                await self._read()
            finally:
                sender.cancel()
                if pinger is not None:
                    pinger.cancel()

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type is WSMsgType.PING:
                if not (self._stalled and self._fault and self._fault.mode == "stall"):
                    await self._ws.pong(msg.data)
                continue
            if msg.type is WSMsgType.PONG or self._stalled:
                continue
            if msg.type is WSMsgType.TEXT:
                events = self._engine.receive_text(msg.data)
            elif msg.type is WSMsgType.BINARY:
                events = self._engine.receive_binary(msg.data)
            else:  # ERROR (e.g. frame over max_msg_size): aiohttp has closed the socket
                break
            await self._send(events)
            if self._engine.has_pending_response:
                self._wake.set()

    async def _send_responses(self) -> None:
        """Drain the engine's in-flight response, ``response_pace`` seconds between batches,
        the first delta held back by the latency profile (``latency.py``)."""
        latency = self._latency
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._engine.has_pending_response and not self._ws.closed:
                batch, rest, delay = latency.first_output(self._engine.next_response_batch())
                if delay:
                    await self._send(batch)
                    await asyncio.sleep(delay)
                    batch = rest if latency.still_current(self._engine, batch) else []
                await self._send(batch)
                if self._fault is not None and self._fault.mid_response:
                    await self._strike(self._fault)
                    return
                if self._engine.has_pending_response:
                    await asyncio.sleep(latency.pause(self._engine))  # 0 still yields

    async def _strike(self, fault: Fault) -> None:
        """The mid-response fault: close with a code, reset the connection, or stall."""
        if fault.mode == "close":
            self._record.close_code = fault.close_code
            await self._ws.close(code=fault.close_code, message=b"Emulated fault")
        elif fault.mode == "reset" and self._transport is not None:
            self._transport.abort()
        self._stalled = True

    async def _send_pings(self) -> None:
        """App-level keep-alive (``#inworld-session-lifecycle``): ``{type:"ping", event_id,
        timestamp}``."""
        while True:
            await asyncio.sleep(self._settings.ping_interval)
            await self._send([self._engine.ping(int(time.time() * 1000))])

    async def _send(self, events: Iterable[Event]) -> None:
        """Send each event as a TEXT frame; stop quietly once the socket is closing."""
        for event in events:
            if self._ws.closed or self._stalled:
                return
            try:
                await self._ws.send_str(orjson.dumps(event).decode())
            except ConnectionResetError:
                return
            self._record.sent_event_types.append(str(event["type"]))

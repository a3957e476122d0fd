"""The I/O shell: the only code that holds both sockets of a session.

`Relay.run()` reads like websockets' `data_received`: feed each frame to the `Translator`,
execute the commands it returns. Two pumps run in one `TaskGroup`:

- the client pump reads the client from the moment it is accepted; its first frame bound for
  Inworld waits until the upstream is open (the client's socket buffers are the bounded buffer:
  aiohttp stops reading from TCP when its queue fills);
- the upstream pump dials Inworld, sends the proxy's initial `session.update`, then relays.

Hot path: both sockets are opened with `decode_text=False`, so TEXT frames arrive as the
UTF-8 bytes received; a frame the core passes through unchanged (`Translator.client_passthrough`
/ `upstream_passthrough`: audio appends and deltas) is written straight back out as a TEXT frame
with `send_frame`: no decode, no encode, no command objects.

Whichever side ends first ends the session: both pumps are cancelled, and each socket still
open is closed with the code the other side used (`proxy.errors.client_close_code`). No task
outlives `run()`.

Limits (`LimitsConfig`; README "Limits and failure behaviour"): a third task, the watchdog,
enforces the session-start deadline, the idle timeout and the maximum duration with a few
timer wake-ups per period and no per-frame work beyond one counter; writes never block and are
bounded per direction by `max_queued_bytes` (`proxy.flow`); a too-big message from either side
ends in an `error` event and 1009; an upstream that vanishes (reset, missed heartbeat) ends in
an `error` event and 1011. Closing a peer that does not answer is bounded by `close_timeout`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from proxy.commands import CloseClient, Command, ToClient, ToUpstream
from proxy.config import LimitsConfig
from proxy.errors import client_close_code, limit_error, upstream_refusal
from proxy.flow import close_within, never_wait
from proxy.metrics import session_outcome
from proxy.observe import DOWN, NULL_SINK, UP, SessionObserver
from proxy.translate import Phase, Translator
from proxy.upstream import UpstreamRefused
from proxy.watchdog import watch

__all__ = ["Dial", "Relay", "SessionEnd"]

Dial = Callable[[], Awaitable[aiohttp.ClientWebSocketResponse[bool]]]

_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
_REASON_MAX = 123  # RFC 6455: a close reason fits a 125-byte control frame
_SAMPLE_MASK = 63  # time 1 message in 64 per direction for the overhead histogram


@dataclass(slots=True)
class SessionEnd:
    """How a session ended, for the session's closing log line (and metrics)."""

    ended_by: str = "unknown"  # client | upstream | proxy
    client_code: int | None = None
    upstream_code: int | None = None
    reason: str = ""
    upstream_status: int | None = None  # HTTP status of a refused upstream handshake
    handshake_failed: bool = False
    frames_up: int = 0
    frames_down: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def outcome(self) -> str:
        """A bounded label for how the session ended (`proxy.metrics.session_outcome`)."""
        return session_outcome(
            self.ended_by, handshake_failed=self.handshake_failed, upstream_code=self.upstream_code
        )


def _utf8(text: str | bytes) -> bytes:
    """A frame's payload as bytes (str only for frames the core built or rewrote)."""
    return text.encode() if isinstance(text, str) else text


def _close_of(msg: Any, close_code: int | None) -> tuple[int, str]:
    """(code, reason) a peer ended with; 1006 when it vanished without a Close frame.

    aiohttp reports a connection that ends without a Close frame as CLOSED with code 1000;
    for the relay that is an abnormal end.

    A protocol error aiohttp detected while reading (a message over `max_msg_size`: 1009)
    carries its own code. `msg` is an aiohttp `WSMessage` (typed Any: its bytes-TEXT variant
    is not exported).
    """
    if msg.type is WSMsgType.ERROR and isinstance(msg.data, aiohttp.WebSocketError):
        return int(msg.data.code), ""
    if msg.type is WSMsgType.CLOSE:
        reason = msg.extra if isinstance(msg.extra, str) else ""
        return int(msg.data), reason.encode()[:_REASON_MAX].decode(errors="ignore")
    if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSED) or close_code is None:
        return 1006, ""  # CLOSED: the connection ended without a Close frame
    return close_code, ""


class Relay:
    """Relay one client connection to one upstream session.

    Args:
        client: the accepted (prepared) client WebSocket.
        dial: opens the upstream socket; raises `UpstreamRefused` on failure.
        translator: the session's sans-I/O core.
        log: a structlog logger bound to the session.
        observer: the session's metrics observer, fed every frame received (default: one
            whose timings go nowhere).
        limits: timeouts and caps (`[limits]`); the defaults when omitted.
    """

    def __init__(
        self,
        client: web.WebSocketResponse[bool],
        dial: Dial,
        translator: Translator,
        log: structlog.typing.FilteringBoundLogger,
        observer: SessionObserver | None = None,
        *,
        limits: LimitsConfig | None = None,
    ) -> None:
        self._client = client
        self._observer = observer or SessionObserver(
            NULL_SINK, clock=time.monotonic, model_label=lambda _: "other"
        )
        self._debug = log.is_enabled_for(logging.DEBUG)  # per-message lines (never payloads)
        self._dial = dial
        self._translator = translator
        self._log = log
        self._upstream: aiohttp.ClientWebSocketResponse[bool] | None = None
        self._upstream_ready = asyncio.Event()
        self._done = asyncio.Event()
        self._close_client: tuple[int, str] | None = None
        self._close_upstream: tuple[int, str] | None = None
        self._limits = limits = limits or LimitsConfig()
        self._max_queued = limits.max_queued_bytes
        self._to_client = never_wait(client)
        self._to_upstream: asyncio.Transport | None = None
        self._activity = 0  # frames either way, keep-alives excepted (read by the watchdog)
        self.end = SessionEnd()

    async def run(self) -> SessionEnd:
        """Relay until either side ends; close both sockets; return how it ended."""
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = (
                    tg.create_task(self._client_pump(), name="client-pump"),
                    tg.create_task(self._upstream_pump(), name="upstream-pump"),
                    tg.create_task(
                        watch(
                            self._limits,
                            ready=self._upstream_ready,
                            started=lambda: self._translator.phase is Phase.OPEN,
                            activity=lambda: self._activity,
                            expire=self._expire,
                        ),
                        name="session-watchdog",
                    ),
                )
                await self._done.wait()
                for task in tasks:
                    task.cancel()
        except asyncio.CancelledError:
            # aiohttp cancels the handler when the client's connection is lost (with
            # handler_cancellation) and on shutdown: the client is gone, Inworld must know.
            self.end.reason = self.end.reason or "client connection lost"
            self._finish("client", upstream=(1011, "client connection lost"))
            raise
        finally:
            await self._close_sockets()
        return self.end

    def _finish(
        self,
        ended_by: str,
        *,
        client: tuple[int, str] | None = None,
        upstream: tuple[int, str] | None = None,
    ) -> None:
        """Record the first end of the session and what each socket should be closed with."""
        if self._done.is_set():
            return
        self.end.ended_by = ended_by
        self._close_client = client
        self._close_upstream = upstream
        self._done.set()

    # -- pumps ----------------------------------------------------------------------------

    async def _client_pump(self) -> None:
        client, translator, observer = self._client, self._translator, self._observer
        passthrough, ready = translator.client_passthrough, self._upstream_ready
        while True:
            msg = await client.receive()
            self._activity += 1
            if msg.type is WSMsgType.TEXT:
                self.end.frames_up += 1
                data = msg.data
                sampled = not self.end.frames_up & _SAMPLE_MASK
                started = time.perf_counter() if sampled else 0.0
                if (up := self._upstream) is not None and ready.is_set() and passthrough(data):
                    queue = self._to_upstream  # hot path: an audio append, forwarded as is
                    if queue is not None and queue.get_write_buffer_size() > self._max_queued:
                        await self._slow_reader("upstream")
                        return
                    await up.send_frame(_utf8(data), WSMsgType.TEXT)
                else:
                    await self._execute(translator.from_client(data))
                observer.from_client(translator.last_type, data, translator.last_event)
                if self._debug:
                    self._log_message(UP, translator.last_type, data)
                if sampled and ready.is_set():
                    observer.overhead(UP, time.perf_counter() - started)
            elif msg.type is WSMsgType.BINARY:
                await self._execute(translator.from_client_binary(msg.data))
            elif msg.type is WSMsgType.CLOSING:  # closed by the proxy itself: shutting down
                self.end.reason = "proxy shutting down"
                self._finish("proxy", upstream=(1001, "proxy shutting down"))
                return
            elif msg.type in _CLOSED:
                code, reason = _close_of(msg, client.close_code)
                if code == WSCloseCode.MESSAGE_TOO_BIG:  # ClientSocket told the client why
                    self.end.reason = "client message too big"
                    self._finish("proxy", upstream=(1000, "client message too big"))
                    return
                if code == 1006:
                    reason = "client connection lost"
                self.end.client_code = code
                self.end.reason = reason or "client closed"
                self._finish("client", upstream=(client_close_code(code), reason))
                return

    async def _upstream_pump(self) -> None:
        try:
            upstream = self._upstream = await self._dial()
        except UpstreamRefused as exc:
            event, code, reason = upstream_refusal(exc.status, exc.detail)
            self.end.upstream_status = exc.status
            self.end.handshake_failed = True
            self.end.reason = f"upstream handshake failed: {exc.detail}"
            await self._send_client_text(orjson.dumps(event))
            self._finish("upstream", client=(code, reason))
            return
        self._to_upstream = never_wait(upstream)
        for command in self._translator.start():  # before any client frame may go up
            assert isinstance(command, ToUpstream)
            await upstream.send_frame(_utf8(command.text), WSMsgType.TEXT)
        self._upstream_ready.set()
        translator, observer = self._translator, self._observer
        passthrough = translator.upstream_passthrough
        while True:
            msg = await upstream.receive()
            if msg.type is WSMsgType.TEXT:
                self.end.frames_down += 1
                data = msg.data
                sampled = not self.end.frames_down & _SAMPLE_MASK
                started = time.perf_counter() if sampled else 0.0
                if passthrough(data):
                    await self._to_client_checked(data)  # hot path: audio/transcript delta
                else:
                    await self._execute(translator.from_upstream(data))
                observer.from_upstream(translator.last_type, data, translator.last_event)
                if self._debug:
                    self._log_message(DOWN, translator.last_type, data)
                if sampled:
                    observer.overhead(DOWN, time.perf_counter() - started)
            elif msg.type is WSMsgType.BINARY:
                continue  # Inworld speaks TEXT only; a binary frame has no OpenAI meaning
            elif msg.type in _CLOSED:
                code, reason = _close_of(msg, upstream.close_code)
                self.end.upstream_code = code
                self.end.reason = reason or "upstream closed"
                if code == WSCloseCode.MESSAGE_TOO_BIG and msg.type is WSMsgType.ERROR:
                    self.end.reason = "upstream message too big"
                    await self._send_client_text(limit_error("upstream_message_too_big"))
                    self._finish("proxy", client=(code, "upstream message too big"))
                    return
                sent = client_close_code(code)
                if code == 1006:
                    reason = "upstream connection lost"
                    await self._send_client_text(limit_error("upstream_connection_lost"))
                self._finish("upstream", client=(sent, reason))
                return

    # -- command execution -----------------------------------------------------------------

    async def _execute(self, commands: Sequence[Command]) -> None:
        for command in commands:
            match command:
                case ToUpstream(text):
                    if not self._upstream_ready.is_set():
                        await self._upstream_ready.wait()
                    assert self._upstream is not None
                    queue = self._to_upstream
                    if queue is not None and queue.get_write_buffer_size() > self._max_queued:
                        await self._slow_reader("upstream")
                        return
                    await self._upstream.send_frame(_utf8(text), WSMsgType.TEXT)
                case ToClient(text):
                    if not await self._to_client_checked(text):
                        return
                case CloseClient(code, reason):
                    self.end.reason = reason
                    self._finish("proxy", client=(code, reason), upstream=(1000, ""))

    async def _to_client_checked(self, text: str | bytes) -> bool:
        """Send to the client unless it is too far behind (then end the session: False)."""
        queue = self._to_client
        if queue is not None and queue.get_write_buffer_size() > self._max_queued:
            await self._slow_reader("client")
            return False
        self._activity += 1
        await self._send_client_text(text)
        return True

    def _log_message(self, direction: str, kind: str | None, text: str | bytes) -> None:
        """DEBUG only: one line per message with its type and size, never its content."""
        self._log.debug(
            "message", direction=direction, event_type=kind and kind[:64], chars=len(text)
        )

    async def _slow_reader(self, who: str) -> None:
        """A peer reads slower than the other side sends: end the session with 1013."""
        if self._done.is_set():
            return
        self.end.reason = f"{who} reads too slowly (limits.max_queued_bytes)"
        self._log.warning("slow_reader", peer=who, max_queued_bytes=self._max_queued)
        if who == "upstream":
            await self._send_client_text(limit_error("slow_reader"))
        self._finish("proxy", client=(1013, f"{who} reads too slowly"), upstream=(1000, ""))

    async def _expire(self, code: str, close_code: int, reason: str) -> None:
        self.end.reason = reason
        self._log.info("session_limit", limit=code)
        await self._send_client_text(limit_error(code))
        self._finish("proxy", client=(close_code, reason), upstream=(1000, reason))

    async def _send_client_text(self, text: str | bytes) -> None:
        try:
            await self._client.send_frame(_utf8(text), WSMsgType.TEXT)
        except ConnectionError:
            # The client is gone; its pump sees the close and ends the session.
            self._log.debug("client_send_failed")

    async def _close_sockets(self) -> None:
        client, upstream = self._client, self._upstream
        timeout = self._limits.close_timeout
        if upstream is not None:
            code, reason = self._close_upstream or (1000, "")
            if not upstream.closed:
                self.end.upstream_code = self.end.upstream_code or code
            await close_within(upstream, code, reason, timeout)
        code, reason = self._close_client or (1000, "")
        if not client.closed:
            self.end.client_code = self.end.client_code or code
        await close_within(client, code, reason, timeout)

"""The I/O shell: the only code that holds both sockets of a session.

Both sockets are `proxy.ws.link.Link`s: the client's is taken over from aiohttp once its upgrade
is answered, the upstream's comes from the dial (`proxy.ws.dial`). Each frame is handled in the
receiving transport's callback, synchronously, like websockets' `data_received`: feed it to
the `Translator`, execute the commands it returns. A frame the core answers with `FORWARD`
(goes on unchanged: audio appends and deltas, and events no rule changed) is written to the
other transport as the very bytes received (header and mask included): no decode, no encode,
no copy, no task switch. Audio appends and deltas are recognised by their first bytes
(`Translator.append_prefixes` / `delta_prefixes`) without asking the core at all, and an
append alone in its read comes earlier still, through the client link's hot lane
(`hot_from_client`, `Link.offer_hot`), before its payload is unmasked or copied. Earliest
of all, when the native lane was built (`proxy.ws.lane`, `server.native_lane`), each link's
lane writes the audio frames of the current run's length to the other link in C and counts
them; the relay arms a lane only while nothing but counting is to be done for its frames
(`_arm_lanes`: no shadow, no DEBUG lines, the other link not backed up, and for deltas no
response whose audio the observer times), and every 64th frame of a direction, counting
both paths' frames, still takes the Python path, so that the overhead histogram samples it.
`run()` itself only dials, starts the session and waits.

Until the upstream is open, client messages wait in a list and the client's socket stops
being read (its kernel buffers are the bounded buffer); they are handled in order once the
proxy's initial `session.update` is sent.

Whichever side ends first ends the session, and each link still open is closed with the
code the other side used (`proxy.core.error_events.client_close_code`). No task outlives `run()`.

Limits (`LimitsConfig`; docs/operations.md#limits-and-failure-behaviour): a watchdog task
enforces the session-start deadline, the idle timeout and the maximum duration with a few timer
wake-ups per period and no per-frame work beyond one counter; writes never block and are
bounded per direction by `max_queued_bytes` (the transport's buffer is checked before each write); a
too-big message from either side ends in an `error` event and 1009; an upstream that vanishes
(reset, missed heartbeat) ends in an `error` event and 1011. Closing a peer that does not
answer is bounded by `close_timeout`. Unfinished messages count against the session's memory
budget (drawn from the process's, `limits.max_unfinished_bytes*`: over it, `error` and 1013)
and must be whole within `limits.message_timeout` (`error` and 1008); `proxy.ws.budget`.

Invalid UTF-8 (RFC 6455 §8.1): every TEXT message the relay handles is checked
(`proxy.ws.utf8`; reassembled ones by the link, fragment by fragment), except the audio
appends and deltas it forwards unparsed by their prefix (a pass over every audio frame would
cost more than the rest of its path; audio events are ASCII JSON). A client's invalid message
fails the client's connection with 1007 (Inworld gets 1000); the upstream's fails the
upstream's with 1007 and the client gets 1011 `upstream protocol error`.

Shadow traffic: when `shadow` is set (a `Tap`, `proxy.session.shadow`), every client message
the relay forwarded is also handed to it: an audio append as its frame was received (never
parsed), any other message as its payload. Without a shadow that costs one attribute check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import orjson
import structlog

from proxy.config import LimitsConfig
from proxy.core.commands import (
    FORWARD,
    BinaryToClient,
    BinaryToUpstream,
    CloseClient,
    Command,
    Forward,
    ToClient,
    ToUpstream,
)
from proxy.core.error_events import client_close_code, limit_error
from proxy.core.translate import Translator
from proxy.metrics.observe import DOWN, NULL_SINK, UP, SessionObserver
from proxy.session.ending import SessionEnd, serve_until, upstream_refused
from proxy.session.watchdog import watch
from proxy.upstream.inworld import UpstreamRefused
from proxy.ws.budget import Budget
from proxy.ws.lane import Lane
from proxy.ws.link import LOST, Link
from proxy.ws.utf8 import valid_utf8

__all__ = ["Dial", "Relay", "SessionEnd", "Tap"]

Dial = Callable[[], Awaitable[Link]]

_SAMPLE_MASK = 63  # time 1 message in 64 per direction for the overhead histogram
_TOO_BIG = 1009
_NOT_UTF8 = (1007, "invalid UTF-8 in a text message")
# A link this side failed for a limit (code -> the error event): the client's own ...
_CLIENT_LIMITS = {1009: "message_too_big", 1008: "message_timeout", 1013: "message_buffers_full"}
# ... and the upstream's (code -> the error event, the client's close code).
_UPSTREAM_LIMITS = {
    1009: ("upstream_message_too_big", 1009),
    1008: ("upstream_message_timeout", 1011),
    1013: ("message_buffers_full", 1013),
}


class Tap(Protocol):
    """Takes a copy of the client's input (a shadow session); must never block or raise."""

    def frame(self, raw: bytes) -> None: ...
    def message(self, data: bytes) -> None: ...


def _utf8(text: str | bytes) -> bytes:
    """A frame's payload as bytes (str only for frames the core built or rewrote)."""
    return text.encode() if isinstance(text, str) else text


class Relay:
    """Relay one client connection to one upstream session.

    Args:
        client: the client's link (taken over after the upgrade, not yet attached).
        dial: opens the upstream link; raises `UpstreamRefused` on failure.
        translator: the session's sans-I/O core.
        log: a structlog logger bound to the session.
        observer: the session's metrics observer, fed every frame received (default: one
            whose timings go nowhere).
        limits: timeouts and caps (`[limits]`); the defaults when omitted.
        budget: the process's budget for unfinished messages (`proxy.ws.budget`), which the
            session's own (`limits.max_unfinished_bytes_per_session`) draws on; None: only
            the session's own applies.
        native_lane: relay audio through the links' native lanes when the extension was
            built (`server.native_lane`); False: all in Python.
    """

    def __init__(
        self,
        client: Link,
        dial: Dial,
        translator: Translator,
        log: structlog.typing.FilteringBoundLogger,
        observer: SessionObserver | None = None,
        *,
        limits: LimitsConfig | None = None,
        budget: Budget | None = None,
        native_lane: bool = True,
    ) -> None:
        self._client = client
        self._native_lane = native_lane
        self._up_lane: Lane | None = None  # the client link's, once the upstream is open
        self._down_lane: Lane | None = None  # the upstream link's
        self._observer = observer or SessionObserver(
            NULL_SINK, clock=time.monotonic, model_label=lambda _: "other"
        )
        # input transcription `usage` reads the observer's audio count (on commits only)
        translator.count_input_audio(self._observer.input_audio_seconds)
        self._debug = log.is_enabled_for(logging.DEBUG)  # per-message lines (never payloads)
        self._dial = dial
        self._translator = translator
        self._log = log
        self._upstream: Link | None = None  # set once open
        self._ready: Link | None = None  # the upstream, once started: client frames may go up
        self._append_prefixes = translator.append_prefixes
        self._delta_prefixes = (
            translator.delta_prefixes
        )  # re-read after each frame the core handles
        self._upstream_ready = asyncio.Event()
        self._early: list[tuple[bytes, bytes | None] | bytes] = []  # client frames before then
        self._done = asyncio.Event()
        self._close_client: tuple[int, str] | None = None
        self._close_upstream: tuple[int, str] | None = None
        self._limits = limits = limits or LimitsConfig()
        self._max_queued = limits.max_queued_bytes
        self._budget = Budget(limits.max_unfinished_bytes_per_session, parent=budget)
        self._activity = 0  # frames either way, keep-alives excepted (read by the watchdog)
        self._shadow: Tap | None = None
        self.end = SessionEnd()

    @property
    def shadow(self) -> Tap | None:
        """Gets a copy of the client's input (shadow traffic); None: no copy."""
        return self._shadow

    @shadow.setter
    def shadow(self, tap: Tap | None) -> None:
        self._shadow = tap
        self._arm_lanes()  # a shadow must see every append

    async def run(self) -> SessionEnd:
        """Relay until either side ends; close both links; return how it ended."""
        client = self._client
        client.attach(
            self.from_client, self.from_client_binary, self.client_closed, check_frames=False
        )
        client.limit(self._budget, self._limits.message_timeout or None)
        client.offer_hot(self._append_prefixes, self.hot_from_client)
        watchdog = watch(
            self._limits,
            ready=self._upstream_ready,
            started=lambda: self._translator.started,
            activity=self._activity_now,
            expire=self._expire,
        )
        jobs = [(self._open_upstream(), "upstream-open"), (watchdog, "session-watchdog")]
        try:
            await serve_until(self._done, jobs)
        except asyncio.CancelledError:
            # aiohttp cancels the handler on shutdown: the client is gone, Inworld must know.
            self.end.reason = self.end.reason or "client connection lost"
            self._finish("client", upstream=(1011, "client connection lost"))
            raise
        finally:
            await self._close_links()  # closing a link releases both lanes (`Link.close`)
            if self._up_lane is not None:  # the lanes' frames count as relayed by the session
                self.end.frames_up += self._up_lane.count
            if self._down_lane is not None:
                self.end.frames_down += self._down_lane.count
        return self.end

    def shut_down(self, code: int = 1001, reason: str = "proxy shutting down") -> None:
        """End the session from outside (the proxy is stopping): both sides get `code`."""
        self.end.reason = self.end.reason or reason
        self._finish("proxy", client=(code, reason), upstream=(code, reason))

    def _finish(
        self,
        ended_by: str,
        *,
        client: tuple[int, str] | None = None,
        upstream: tuple[int, str] | None = None,
    ) -> None:
        """Record the first end of the session and what each link should be closed with."""
        if self._done.is_set():
            return
        self.end.ended_by = ended_by
        self._close_client = client
        self._close_upstream = upstream
        self._done.set()
        self._client.detach()  # later messages are dropped; the closing handshake goes on
        if self._upstream is not None:
            self._upstream.detach()

    async def _open_upstream(self) -> None:
        try:
            upstream = await self._dial()
        except UpstreamRefused as exc:
            event, code, reason = upstream_refused(self.end, exc, self._translator.provider)
            self._client.send_text(orjson.dumps(event))
            self._finish("upstream", client=(code, reason))
            return
        self._upstream = upstream
        if self._done.is_set():
            upstream.detach()
            return
        for command in self._translator.start():  # before any client frame may go up
            assert isinstance(command, ToUpstream)
            upstream.send_text(_utf8(command.text))
        self._delta_prefixes = self._translator.delta_prefixes  # the route may be pass-through
        upstream.attach(
            self.from_upstream, self.from_upstream_binary, self.upstream_closed, check_frames=False
        )
        upstream.limit(self._budget, self._limits.message_timeout or None)
        upstream.peer, self._client.peer = self._client, upstream  # batch writes per read
        if self._native_lane:
            self._open_lanes(upstream)
        self._ready = upstream
        self._upstream_ready.set()
        early, self._early = self._early, []
        for frame in early:
            if self._done.is_set():
                return
            if isinstance(frame, tuple):
                self.from_client(*frame)
            else:
                self.from_client_binary(frame)
        self._arm_lanes()
        self._client.resume_reading()

    def _open_lanes(self, upstream: Link) -> None:
        """Give both links a native lane (disarmed; `_arm_lanes` arms them), if built."""
        client = self._client
        self._up_lane = client.open_lane(self._append_prefixes)
        self._down_lane = upstream.open_lane(self._delta_prefixes)
        if self._up_lane is None or self._down_lane is None:
            self._up_lane = self._down_lane = client.lane = upstream.lane = None
            return
        self._up_lane.sample = self._down_lane.sample = _SAMPLE_MASK + 1
        upstream.lend_socket(self._up_lane)  # plain TCP only: the lanes skip the loop's writes
        client.lend_socket(self._down_lane)
        self._observer.follow_lanes(self._up_lane, self._down_lane)
        client.limit_writes(self._max_queued)  # past it: `pause_writing` disarms the lane
        upstream.limit_writes(self._max_queued)

    def _arm_lanes(self) -> None:
        """Arm each native lane whose frames need nothing but forwarding and counting now;
        disarm the other. Called after each message the Python path handles."""
        up, down, upstream = self._up_lane, self._down_lane, self._ready
        if up is None or down is None or upstream is None:
            return
        observer, client = self._observer, self._client
        live = not self._done.is_set() and not self._debug
        up.length = observer.append_length
        # a shadow must get a copy of every append
        quiet = live and not upstream.write_paused and self._shadow is None
        up.write = upstream.writer if quiet else None
        if down.prefixes != self._delta_prefixes:
            down.prefixes = self._delta_prefixes
        down.length = observer.delta_length
        quiet = live and not client.write_paused and not observer.watching_audio
        down.write = client.writer if quiet else None

    def _activity_now(self) -> int:
        """Frames either way so far (keep-alives excepted), the lanes' included."""
        lanes = (self._up_lane.count if self._up_lane is not None else 0) + (
            self._down_lane.count if self._down_lane is not None else 0
        )
        return self._activity + lanes

    # -- client -> upstream ---------------------------------------------------------------

    def from_client(self, data: bytes, raw: bytes | None) -> None:
        """One TEXT message from the client (`raw`: its frame's bytes, if a single frame).

        Metrics count it as received, whether or not it could be relayed."""
        self._activity += 1
        upstream = self._ready
        if upstream is None or self._early:
            self._early.append((data, raw))
            self._client.pause_reading()
            return
        self.end.frames_up += 1
        index = self.end.frames_up
        if (lane := self._up_lane) is not None:  # its frames count towards the samples
            lane.offset = index
            index += lane.count
        sampled = not index & _SAMPLE_MASK
        started = time.perf_counter() if sampled else 0.0
        if data.startswith(self._append_prefixes) and raw is not None:  # an audio append
            self._observer.append_from_client(data)
            if not upstream.forward(raw, self._max_queued):
                self._slow_reader("upstream")
                return
            if self._shadow is not None:
                self._shadow.frame(raw)
            if self._debug:
                self._log_message(UP, "input_audio_buffer.append", len(data))
            if lane is not None:  # the lane left it here: a sample, or a new length
                self._arm_lanes()
            if sampled:
                self._observer.overhead(UP, time.perf_counter() - started)
            return
        if raw is not None and not valid_utf8(data):  # reassembled ones: the link checked
            self._client.fail(*_NOT_UTF8)
            return
        translator = self._translator
        commands = translator.from_client(data)
        if commands is FORWARD:  # goes on as received
            if not self._pass_on(upstream, data, raw):
                self._slow_reader("upstream")
        else:
            self._execute(commands, data, raw)
        self._observer.from_client(translator.last_type, data, translator.last_event)
        if self._shadow is not None:
            self._shadow.message(data)
        if self._debug:
            self._log_message(UP, translator.last_type, len(data))
        self._arm_lanes()  # the event may have changed what the observer watches
        if sampled:
            self._observer.overhead(UP, time.perf_counter() - started)

    def hot_from_client(self, raw: bytes, length: int) -> bool:
        """An audio append alone in its frame, offered before the frame is unmasked
        (`length`: its payload's size; `Link.offer_hot`): counted and forwarded as received.
        False, doing nothing, when it must take `from_client`: the upstream is not ready, or
        its length is new to the observer (which then measures its audio)."""
        upstream = self._ready
        if upstream is None or self._early:
            return False
        end = self.end
        lane = self._up_lane
        index = end.frames_up + 1 + (lane.count if lane is not None else 0)  # as `from_client`
        sampled = not index & _SAMPLE_MASK
        started = time.perf_counter() if sampled else 0.0
        if not self._observer.append_sized(length):
            return False
        self._activity += 1
        end.frames_up += 1
        if lane is not None:
            lane.offset = end.frames_up
        if not upstream.forward(raw, self._max_queued):
            self._slow_reader("upstream")
            return True
        if self._shadow is not None:
            self._shadow.frame(raw)
        if self._debug:
            self._log_message(UP, "input_audio_buffer.append", length)
        if lane is not None:
            self._arm_lanes()  # e.g. after the upstream's queue drained (`resume_writing`)
        if sampled:
            self._observer.overhead(UP, time.perf_counter() - started)
        return True

    def from_client_binary(self, data: bytes) -> None:
        """One BINARY message from the client (refused by the core with an error event on
        Inworld routes, relayed unchanged on pass-through routes)."""
        self._activity += 1
        if self._ready is None or self._early:
            self._early.append(data)
            self._client.pause_reading()
            return
        self._execute(self._translator.from_client_binary(data))

    def client_closed(self, code: int, reason: str, broken: bool) -> None:
        """The client closed, vanished, or broke the protocol."""
        if broken:  # the proxy failed the client's connection: a limit, or a protocol error
            self.end.reason = reason if code != _TOO_BIG else "client message too big"
            if (kind := _CLIENT_LIMITS.get(code)) is not None:
                self._client.send_text(_utf8(limit_error(kind)))
            self._finish("proxy", client=(code, reason), upstream=(1000, self.end.reason))
            return
        if code == LOST:
            reason = "client connection lost"
        self.end.client_code = code
        self.end.reason = reason or "client closed"
        self._finish("client", upstream=(client_close_code(code), reason))

    # -- upstream -> client ---------------------------------------------------------------

    def from_upstream(self, data: bytes, raw: bytes | None) -> None:
        """One TEXT message from the upstream (counted as received, relayed or not)."""
        self.end.frames_down += 1
        translator = self._translator
        index = self.end.frames_down
        if (lane := self._down_lane) is not None:  # its frames count towards the samples
            lane.offset = index
            index += lane.count
        sampled = not index & _SAMPLE_MASK
        started = time.perf_counter() if sampled else 0.0
        client = self._client
        if data.startswith(self._delta_prefixes) and raw is not None:  # an audio delta
            self._observer.delta_from_upstream(data)
            if not client.forward(raw, self._max_queued):
                self._slow_reader("client")
                return
            self._activity += 1
            if self._debug:
                self._log_message(DOWN, "response.output_audio.delta", len(data))
            if lane is not None:  # the lane left it here (see `from_client`)
                self._arm_lanes()
            if sampled:
                self._observer.overhead(DOWN, time.perf_counter() - started)
            return
        if raw is not None and not valid_utf8(data) and self._upstream is not None:
            self._upstream.fail(*_NOT_UTF8)
            return
        commands = translator.from_upstream(data)
        if commands is FORWARD:  # goes on as received
            if self._pass_on(client, data, raw):
                self._activity += 1
            else:
                self._slow_reader("client")
        else:
            self._execute(commands, data, raw, going_up=False)
            self._delta_prefixes = translator.delta_prefixes  # the session may have opened
        self._observer.from_upstream(translator.last_type, data, translator.last_event)
        if self._debug:
            self._log_message(DOWN, translator.last_type, len(data))
        self._arm_lanes()  # a response may have started, or been interrupted
        if sampled:
            self._observer.overhead(DOWN, time.perf_counter() - started)

    def from_upstream_binary(self, data: bytes) -> None:
        """One BINARY message from the upstream (dropped from Inworld, relayed unchanged on
        pass-through routes)."""
        self.end.frames_down += 1
        self._execute(self._translator.from_upstream_binary(data))

    def upstream_closed(self, code: int, reason: str, broken: bool) -> None:
        """The upstream closed, vanished, or broke the protocol."""
        self.end.upstream_code = code
        self.end.reason = reason or "upstream closed"
        if broken and code in _UPSTREAM_LIMITS:
            kind, sent = _UPSTREAM_LIMITS[code]
            self.end.reason = (
                "upstream message too big" if code == _TOO_BIG else f"upstream {reason}"
            )
            error = limit_error(kind, self._translator.provider)
            self._client.send_text(_utf8(error))
            self._finish("proxy", client=(sent, self.end.reason), upstream=(code, self.end.reason))
            return
        if broken:  # Inworld broke the protocol: it is told why, the client gets a server error
            self.end.reason = f"upstream protocol error: {reason}"
            self._finish("proxy", client=(1011, "upstream protocol error"), upstream=(code, reason))
            return
        sent = client_close_code(code)
        if code == LOST:
            reason = "upstream connection lost"
            error = limit_error("upstream_connection_lost", self._translator.provider)
            self._client.send_text(_utf8(error))
        self._finish("upstream", client=(sent, reason))

    # -- command execution -----------------------------------------------------------------

    def _execute(
        self,
        commands: Sequence[Command],
        data: bytes = b"",
        raw: bytes | None = None,
        *,
        going_up: bool = True,
    ) -> None:
        """Carry out the core's commands for one frame (`data`, `raw`: the frame, for a
        `Forward` among them; `going_up`: the frame came from the client)."""
        for command in commands:
            match command:
                case Forward():
                    target = self._ready if going_up else self._client
                    assert target is not None
                    if not self._pass_on(target, data, raw):
                        self._slow_reader("upstream" if going_up else "client")
                        return
                    if not going_up:
                        self._activity += 1
                case ToUpstream(text):
                    upstream = self._ready
                    assert upstream is not None
                    if upstream.buffered() > self._max_queued:
                        self._slow_reader("upstream")
                        return
                    upstream.send_text(_utf8(text))
                case ToClient(text):
                    if not self._client_has_room():
                        return
                    self._client.send_text(_utf8(text))
                case BinaryToUpstream(data):
                    upstream = self._ready
                    assert upstream is not None
                    if upstream.buffered() > self._max_queued:
                        self._slow_reader("upstream")
                        return
                    upstream.send_binary(data)
                case BinaryToClient(data):
                    if not self._client_has_room():
                        return
                    self._client.send_binary(data)
                case CloseClient(code, reason):
                    self.end.reason = reason
                    self._finish("proxy", client=(code, reason), upstream=(1000, ""))

    def _pass_on(self, link: Link, data: bytes, raw: bytes | None) -> bool:
        """Write a message the core leaves unchanged to `link`: its frame as received when it
        came in one, else re-framed. False (nothing written) when `link` is too far behind."""
        if raw is not None:
            return link.forward(raw, self._max_queued)
        if link.buffered() > self._max_queued:
            return False
        link.send_text(data)
        return True

    def _client_has_room(self) -> bool:
        """False (and the session ends) when the client is too far behind."""
        if self._client.buffered() > self._max_queued:
            self._slow_reader("client")
            return False
        self._activity += 1
        return True

    def _log_message(self, direction: str, kind: str | None, size: int) -> None:
        """DEBUG only: one line per message with its type and size, never its content."""
        self._log.debug("message", direction=direction, event_type=kind and kind[:64], chars=size)

    def _slow_reader(self, who: str) -> None:
        """A peer reads slower than the other side sends: end the session with 1013."""
        if self._done.is_set():
            return
        self.end.reason = f"{who} reads too slowly (limits.max_queued_bytes)"
        self._log.warning("slow_reader", peer=who, max_queued_bytes=self._max_queued)
        if who == "upstream":
            self._client.send_text(_utf8(limit_error("slow_reader")))
        self._finish("proxy", client=(1013, f"{who} reads too slowly"), upstream=(1000, ""))

    async def _expire(self, code: str, close_code: int, reason: str) -> None:
        self.end.reason = reason
        self._log.info("session_limit", limit=code)
        self._client.send_text(_utf8(limit_error(code, self._translator.provider)))
        self._finish("proxy", client=(close_code, reason), upstream=(1000, reason))

    async def _close_links(self) -> None:
        """Close both links at once (neither side's Close waits behind the other's)."""
        client, upstream = self._client, self._upstream
        timeout = self._limits.close_timeout
        closing = []
        if upstream is not None:
            code, reason = self._close_upstream or (1000, "")
            if upstream.ended is None:
                self.end.upstream_code = self.end.upstream_code or code
            closing.append(upstream.close(code, reason, timeout))
        code, reason = self._close_client or (1000, "")
        if client.ended is None:
            self.end.client_code = self.end.client_code or code
        closing.append(client.close(code, reason, timeout))
        await asyncio.gather(*closing)

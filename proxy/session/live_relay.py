"""One OpenAI Live session over one Inworld session: the two sockets, the pacer, the timers.

The Live twin of `proxy.session.relay.Relay` (docs/live.md): two `proxy.ws.link.Link`s, each
frame handled in its transport's callback, the translation `proxy.core.live.LiveTranslator`'s.
The client's `session.start` gives `Dial(model)`: Inworld is opened (the `dial` callable: the
model's route) while later client messages wait (the client's socket is not read); then
`opened(rules)` sends the first `session.update` and they follow in order. Audio appends take
a short path (sniffed by prefix, re-wrapped, never parsed); `Play` frames go to the `Pacer`,
`FlushOutput` empties it. The watchdog enforces `[limits]` (its start deadline covers the
client's `session.start` and Inworld's answer); a timer sends `session.usage.updated`. How a
session ends: `proxy.session.live_ends`. Writes are bounded per direction by
`limits.max_queued_bytes`, unfinished messages by the budget; no task outlives `run()`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from proxy.config import LimitsConfig, Rules
from proxy.core.commands import CloseClient, ToClient, ToUpstream
from proxy.core.live import LiveTranslator
from proxy.core.live_audio import LIVE_APPEND_PREFIXES
from proxy.core.live_events import (
    Dial,
    FlushOutput,
    LiveCommand,
    Play,
    live_error,
)
from proxy.metrics.observe import DOWN, UP, SessionObserver
from proxy.session.live_ends import (
    Ending,
    client_ending,
    close_links,
    limit_ending,
    refused_ending,
    slow_ending,
    upstream_ending,
)
from proxy.session.live_pacer import Pacer
from proxy.session.relay import SessionEnd
from proxy.session.watchdog import watch
from proxy.upstream.inworld import UpstreamRefused
from proxy.ws.budget import Budget
from proxy.ws.link import Link

__all__ = ["LiveDial", "LiveRelay"]

LiveDial = Callable[[str], Awaitable[tuple[Link, Rules]]]
"""Opens Inworld for a Live model name: (the upstream link, the rules of the route it took)."""

_SAMPLE_MASK = 63  # time 1 message in 64 per direction for the overhead histogram
_DELTA = "response.output_audio.delta"


class LiveRelay:
    """Relay one Live client to one Inworld session.

    Args:
        client: the client's link (taken over after the upgrade, not yet attached).
        dial: opens Inworld for the model of the client's `session.start`.
        core: the session's `LiveTranslator` (its clock must be this loop's `time`).
        log: a structlog logger bound to the session.
        observer: the session's metrics observer (fed Inworld's events as they come).
        limits: `[limits]`.
        budget: the process's budget for unfinished messages (`proxy.ws.budget`).
        usage_interval: seconds between `session.usage.updated` events (0: only at the end).
    """

    def __init__(
        self,
        client: Link,
        dial: LiveDial,
        core: LiveTranslator,
        log: structlog.typing.FilteringBoundLogger,
        observer: SessionObserver,
        *,
        limits: LimitsConfig,
        budget: Budget | None = None,
        usage_interval: float = 15.0,
    ) -> None:
        self._client = client
        self._dial = dial
        self._core = core
        self._log = log
        self._debug = log.is_enabled_for(logging.DEBUG)
        self._observer = observer
        self._limits = limits
        self._max_queued = limits.max_queued_bytes
        self._budget = Budget(limits.max_unfinished_bytes_per_session, parent=budget)
        self._usage_interval = usage_interval
        self._upstream: Link | None = None
        self._early: list[tuple[bytes, bool]] | None = None  # (message, binary): Inworld opens
        self._tasks: list[asyncio.Task[None]] = []
        self._group: asyncio.TaskGroup | None = None
        self._pacer: Pacer | None = None
        self._done = asyncio.Event()
        self._close_client: tuple[int, str] | None = None
        self._close_upstream: tuple[int, str] | None = None
        self._activity = 0
        self.end = SessionEnd()

    async def run(self) -> SessionEnd:
        """Relay until either side ends; close both links; return how it ended."""
        loop = asyncio.get_running_loop()
        self._pacer = Pacer(
            loop, self._send_paced, max_bytes=self._max_queued, on_full=self._pacer_full
        )
        client = self._client
        ready = asyncio.Event()
        ready.set()  # the start deadline runs from the upgrade: session.start, then Inworld
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group  # before attach: a waiting session.start may dial at once
                client.attach(self.from_client, self.from_client_binary, self.client_closed)
                client.limit(self._budget, self._limits.message_timeout or None)
                started, activity = (lambda: self._core.started), (lambda: self._activity)
                limits = watch(self._limits, ready=ready, started=started, activity=activity,
                               expire=self._expire)  # fmt: skip
                self._tasks.append(group.create_task(limits, name="live-watchdog"))
                if self._usage_interval > 0:
                    self._tasks.append(group.create_task(self._usage(), name="live-usage"))
                await self._done.wait()
                for task in self._tasks:
                    task.cancel()
        except asyncio.CancelledError:
            lost = "client connection lost"
            self._finish(Ending("client", lost, upstream=(1011, lost)))
            raise
        finally:
            self._pacer.close()
            closes = (self._close_client, self._close_upstream)
            timeout = self._limits.close_timeout
            await close_links(self._client, self._upstream, self.end, closes, timeout)
        return self.end

    def shut_down(self, code: int = 1001, reason: str = "proxy shutting down") -> None:
        """End the session from outside (the proxy is stopping)."""
        both = (code, reason)
        self._finish(Ending("proxy", reason, both, both, closed="connection_lost"))

    def _finish(self, ending: Ending) -> None:
        """Record the first end: its error, then (a started session) its `session.closed`."""
        if self._done.is_set():
            return
        end, client = self.end, ending.client
        end.ended_by, end.reason = ending.ended_by, end.reason or ending.reason
        if ending.client_code is not None:
            end.client_code = ending.client_code
        if self._pacer is not None:
            self._pacer.close()
        if ending.error is not None:
            self._client.send_text(ending.error)
        if ending.closed is not None:
            frames = self._core.closing(ending.closed)
            for frame in frames:
                self._client.send_text(frame)
            if frames:
                client = (1000, "session closed")
        self._close_client, self._close_upstream = client, ending.upstream
        if client is not None and end.client_code is None:
            end.client_code = client[0]  # what the client is sent (it may close first)
        self._done.set()
        self._client.detach()
        if self._upstream is not None:
            self._upstream.detach()

    # -- opening Inworld ---------------------------------------------------------------------

    def _start_dial(self, model: str) -> None:
        if self._group is None or self._early is not None or self._upstream is not None:
            return
        self._early = []
        self._tasks.append(self._group.create_task(self._open(model), name="live-upstream-open"))

    async def _open(self, model: str) -> None:
        try:
            upstream, rules = await self._dial(model)
        except UpstreamRefused as exc:
            self.end.upstream_status, self.end.handshake_failed = exc.status, True
            self._finish(refused_ending(exc.status, exc.detail))
            return
        self._upstream = upstream
        if self._done.is_set():
            upstream.detach()
            return
        upstream.attach(self.from_upstream, self.from_upstream_binary, self.upstream_closed)
        upstream.limit(self._budget, self._limits.message_timeout or None)
        upstream.peer, self._client.peer = self._client, upstream
        self._execute(self._core.opened(rules))
        early, self._early = self._early or [], None
        for data, binary in early:
            if self._done.is_set():
                return
            if binary:
                self._refuse_binary()
            else:
                self._handle_client(data)
        self._client.resume_reading()

    # -- client -> Inworld -------------------------------------------------------------------

    def from_client(self, data: bytes, raw: bytes | None) -> None:
        """One TEXT message from the client."""
        if not self._held(data, binary=False):
            self._handle_client(data)

    def _held(self, data: bytes, *, binary: bool) -> bool:
        """Hold a client message while Inworld opens (True: held)."""
        self._activity += 1
        if self._early is None:
            return False
        self._early.append((data, binary))
        self._client.pause_reading()
        return True

    def _handle_client(self, data: bytes) -> None:
        self.end.frames_up += 1
        started = 0.0 if self.end.frames_up & _SAMPLE_MASK else time.perf_counter()
        core = self._core
        audio = self._upstream is not None and data.startswith(LIVE_APPEND_PREFIXES)
        frame = core.append(data) if audio else None
        if frame is not None:  # the short path: sliced and re-wrapped, never parsed
            self._observer.append_from_client(data)
            self._to_upstream(frame)
        else:
            commands = core.from_client(data)
            self._observer.from_client(core.last_type, data, core.last_event)
            if self._debug:
                self._log_message(UP, core.last_type, len(data))
            self._execute(commands)
        if started:
            self._observer.overhead(UP, time.perf_counter() - started)

    def from_client_binary(self, data: bytes) -> None:
        """A BINARY message: not part of the Live protocol (an `error`; the session goes on)."""
        if not self._held(data, binary=True):
            self._refuse_binary()

    def _refuse_binary(self) -> None:
        message = "Binary messages are not part of the Live protocol: send JSON text."
        self._send_client(live_error(message, code="invalid_event"))

    def client_closed(self, code: int, reason: str, broken: bool) -> None:
        """The client closed, vanished, or broke the protocol."""
        self._finish(client_ending(code, reason, broken))

    # -- Inworld -> client -------------------------------------------------------------------

    def from_upstream(self, data: bytes, raw: bytes | None) -> None:
        """One TEXT message from Inworld."""
        self.end.frames_down += 1
        started = 0.0 if self.end.frames_down & _SAMPLE_MASK else time.perf_counter()
        core = self._core
        commands = core.from_upstream(data)
        kind = core.last_type
        if kind == _DELTA and core.last_event is None:
            self._observer.delta_from_upstream(data)
        else:
            self._observer.from_upstream(kind, data, core.last_event)
        if kind != "ping":
            self._activity += 1
        if self._debug:
            self._log_message(DOWN, kind, len(data))
        self._execute(commands)
        if started:
            self._observer.overhead(DOWN, time.perf_counter() - started)

    def from_upstream_binary(self, data: bytes) -> None:
        """A BINARY message from Inworld: dropped (Inworld speaks JSON)."""
        self.end.frames_down += 1

    def upstream_closed(self, code: int, reason: str, broken: bool) -> None:
        """Inworld closed, vanished, or broke the protocol."""
        self.end.upstream_code = code
        self._finish(upstream_ending(code, reason, broken))

    # -- commands ----------------------------------------------------------------------------

    def _execute(self, commands: Sequence[LiveCommand]) -> None:
        """Carry out the core's commands in order."""
        pacer = self._pacer
        assert pacer is not None
        for command in commands:
            if self._done.is_set():
                return
            match command:
                case Play(frame, at):
                    pacer.push(frame, at)
                case ToClient(text):
                    self._send_client(text.encode() if isinstance(text, str) else text)
                case ToUpstream(text):
                    self._to_upstream(text.encode() if isinstance(text, str) else text)
                case FlushOutput():
                    pacer.flush()
                case Dial(model):
                    self._start_dial(model)
                case CloseClient(code, reason):
                    by = "client" if code == 1000 else "proxy"  # 1000: its session.close
                    why = reason or "session.close"
                    self._finish(Ending(by, why, client=(code, reason), upstream=(1000, "")))

    def _send_client(self, data: bytes) -> bool:
        if self._client.buffered() > self._max_queued:
            self._slow_reader("client")
            return False
        self._client.send_text(data)
        return True

    def _send_paced(self, frame: bytes) -> bool:
        self._activity += 1
        return self._send_client(frame)

    def _to_upstream(self, data: bytes) -> None:
        upstream = self._upstream
        if upstream is None:
            return
        if upstream.buffered() > self._max_queued:
            self._slow_reader("upstream")
            return
        upstream.send_text(data)

    def _pacer_full(self) -> None:
        self._log.warning("live_output_full", max_queued_bytes=self._max_queued)
        self._slow_reader("client")

    def _slow_reader(self, who: str) -> None:
        """A peer reads slower than the other side sends: end the session with 1013."""
        if self._done.is_set():
            return
        self._log.warning("slow_reader", peer=who, max_queued_bytes=self._max_queued)
        self._finish(slow_ending(who))

    def _log_message(self, direction: str, kind: str | None, size: int) -> None:
        """DEBUG only: one line per message with its type and size, never its content."""
        self._log.debug("message", direction=direction, event_type=kind and kind[:64], chars=size)

    # -- timers ------------------------------------------------------------------------------

    async def _usage(self) -> None:
        while True:
            await asyncio.sleep(self._usage_interval)
            if self._core.phase == "started":
                self._send_client(self._core.usage())

    async def _expire(self, code: str, close_code: int, reason: str) -> None:
        self._log.info("session_limit", limit=code)
        started = self._core.phase != "new"
        self._finish(limit_ending(code, close_code, reason, started=started))

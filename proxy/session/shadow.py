"""Shadow traffic: a second upstream session that mirrors the client's input, measured and
never heard.

For a session whose route names a `shadow` (and whose caller is in its `share`,
`proxy.config.routes.shadowed`), the proxy opens a second upstream (translated for the shadow's
provider by a `Translator` of its own) and mirrors everything the client sends: the session
config, audio appends, commits, clears, item creates, `response.create` and `response.cancel`.
The shadow's output goes to a `SessionObserver` of its own, whose timings land in the route
metrics with `role="shadow"` (`proxy.metrics.routes.VariantSink` over `NULL_SINK`, so the
per-model families keep describing what clients get), and nowhere else: nothing of it is
forwarded to the client.

The shadow can never slow, block or end the primary (docs/routing.md#shadow-traffic):

- the relay's tap (`tap`, a `proxy.session.shadow_queue.ShadowQueue`) only appends the bytes
  it was given (an audio append as its frame was received, never parsed; any other message's
  payload) to a queue, and wakes this session's task;
- the queue is bounded (`limits.max_queued_bytes`), and so is the shadow upstream's send buffer:
  past either, the shadow is dropped (`behind`). A refused handshake (`refused`), an upstream
  that closes, breaks, misses its heartbeat or does not start its session within
  `limits.session_start_timeout` (`failed`) drop it too. A dropped shadow closes its upstream,
  takes nothing more and is counted in `inworld_proxy_shadow_sessions_total{outcome}`;
- each tool call the shadow makes is answered at once with a `function_call_output` holding
  the route's canned `tool_output`; the client's own `function_call_output` items (for the
  primary's calls, with other call ids) are not mirrored. The client's next `response.create`
  then lets both conversations go on, which drift apart from there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
import structlog

from proxy.config import LimitsConfig
from proxy.config.routes import Shadow
from proxy.core.commands import FORWARD, BinaryToUpstream, ToUpstream
from proxy.core.passthrough import RoutedTranslator
from proxy.core.translate import Translator
from proxy.metrics.labels import model_labeler
from proxy.metrics.observe import NULL_SINK, SessionObserver
from proxy.metrics.routes import SHADOW, RouteLabels, RouteMetrics, VariantSink, account_variant
from proxy.session.route import Candidate, SessionRoute
from proxy.session.shadow_queue import ShadowQueue
from proxy.upstream.inworld import UpstreamRefused, new_session_key
from proxy.ws.link import Link

__all__ = ["ShadowSession", "shadow_for"]

_COMPLETED, _BEHIND, _REFUSED, _FAILED = "completed", "behind", "refused", "failed"


def shadow_for(
    route: SessionRoute,
    primary: Translator,
    *,
    route_metrics: RouteMetrics,
    limits: LimitsConfig,
    log: structlog.typing.FilteringBoundLogger,
) -> ShadowSession | None:
    """The session's shadow, if its route has one and this caller is in its share."""
    if route.route is None or route.shadow is None or route.shadow_candidate is None:
        return None
    return ShadowSession(
        route,
        route.shadow,
        route.shadow_candidate,
        primary,
        route_metrics=route_metrics,
        limits=limits,
        log=log,
    )


class ShadowSession:
    """One shadow upstream session (see the module docstring). `start()` it, give `tap` to
    the relay, `await finish()` when the primary has ended.

    `outcome` is None while it runs, then `completed`, `behind`, `refused` or `failed`.
    """

    def __init__(
        self,
        route: SessionRoute,
        shadow: Shadow,
        candidate: Candidate,
        primary: Translator,
        *,
        route_metrics: RouteMetrics,
        limits: LimitsConfig,
        log: structlog.typing.FilteringBoundLogger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert route.route is not None
        variant = shadow.variant
        self.labels = labels = RouteLabels(route.route.name, variant.name, variant.provider)
        self._route, self._candidate = route, candidate
        self._tool_output = shadow.tool_output
        self._metrics, self._limits = route_metrics, limits
        self._log = log.bind(shadow_variant=variant.name, shadow_provider=variant.provider)
        openai = variant.provider == "openai"
        self._translator = (RoutedTranslator if openai else Translator)(
            candidate.rules,
            url_model=primary.url_model,
            dialect=primary.dialect,
            preset=primary.preset,
            transcription=primary.transcription,
        )
        if isinstance(self._translator, RoutedTranslator):
            self._translator.passthrough = True
        self.observer = SessionObserver(
            VariantSink(NULL_SINK, route_metrics, lambda: labels, SHADOW),
            clock=clock,
            model_label=model_labeler(candidate.rules),
            model=primary.url_model,
        )
        self._limit = limits.max_queued_bytes
        self.tap = ShadowQueue(self._limit, self._overflow)  # the relay's `shadow`
        self._link: Link | None = None
        self._delta_prefixes: tuple[bytes, ...] = ()
        self._task: asyncio.Task[None] | None = None
        self._dialing = False
        self._accounted = False
        self.outcome: str | None = None
        self.reason = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Dial the shadow's upstream and start mirroring, in a task of its own."""
        # kept in `_task` and awaited by `finish()`, which the session handler always calls
        self._task = asyncio.create_task(self._run(), name="shadow-session")  # noqa: TID251

    async def finish(self) -> None:
        """The primary has ended: stop mirroring, close the shadow's upstream (bounded by
        `limits.close_timeout`) and count the shadow session. Cancelling the wait (aiohttp
        may cancel the session's handler) leaves the shadow's task to finish that alone."""
        if self.outcome is None:
            self.outcome = _COMPLETED
        task = self._task
        if task is None:
            self._account()
            return
        if self._dialing:
            task.cancel()
        self.tap.close()
        await asyncio.wait({task})

    def _drop(self, outcome: str, reason: str) -> None:
        """Stop mirroring for good (the task closes the upstream)."""
        if self.outcome is not None:
            return
        self.outcome, self.reason = outcome, reason
        self.tap.close()
        if self._dialing and self._task is not None:
            self._task.cancel()
        self._log.warning("shadow_dropped", outcome=outcome, reason=reason, **self._fields())

    async def _run(self) -> None:
        link: Link | None = None
        timer: asyncio.TimerHandle | None = None
        try:
            self._dialing = True
            try:
                link = await self._route.open_upstream(self._candidate, new_session_key())
            except UpstreamRefused as exc:
                self._dialing = False
                self._drop(_REFUSED, f"upstream handshake failed: {exc.detail}")
                return
            self._dialing = False
            self._link = link
            if self.outcome is not None:
                return
            link.attach(self._from_upstream, self._from_upstream_binary, self._closed)
            for command in self._translator.start():
                assert isinstance(command, ToUpstream)
                link.send_text(_utf8(command.text))
            self._delta_prefixes = self._translator.delta_prefixes
            if self._limits.session_start_timeout:
                timer = asyncio.get_running_loop().call_later(
                    self._limits.session_start_timeout, self._check_started
                )
            await self._pump(link)
        except asyncio.CancelledError:
            if self.outcome is None:  # not our own cancel: the loop is going away
                raise
        except Exception as exc:  # a bug here must not reach the primary
            self._log.exception("shadow_error")
            self._drop(_FAILED, f"internal error: {type(exc).__name__}")
        finally:
            if timer is not None:
                timer.cancel()
            try:
                if link is not None:
                    link.detach()
                    await self._close(link)
            finally:
                self._account()

    async def _close(self, link: Link) -> None:
        try:
            await link.close(1000, "", self._limits.close_timeout)
        except asyncio.CancelledError:
            link.abort()
            raise

    def _check_started(self) -> None:
        if not self._translator.started:
            self._drop(_FAILED, "no session start (limits.session_start_timeout)")

    # -- client -> shadow --------------------------------------------------------------------

    def _overflow(self) -> None:
        self._drop(_BEHIND, "shadow queue full (limits.max_queued_bytes)")

    async def _pump(self, link: Link) -> None:
        """Send what the tap queued, in order, until the shadow is dropped or finished."""
        while self.outcome is None:
            frames: list[bytes] = []
            for as_received, data in await self.tap.take():
                if self.outcome is not None:
                    return
                if as_received:
                    frames.append(data)
                    continue
                if frames and not self._send_frames(link, frames):
                    return
                frames = []
                self._mirror(link, data)
            if frames:
                self._send_frames(link, frames)

    def _send_frames(self, link: Link, frames: list[bytes]) -> bool:
        """Write audio appends as received (complete frames, one write for the run)."""
        if not link.forward(b"".join(frames), self._limit):
            self._drop(_BEHIND, "shadow upstream reads too slowly (limits.max_queued_bytes)")
            return False
        return True

    def _mirror(self, link: Link, data: bytes) -> None:
        """Translate one client message for the shadow and send what goes upstream."""
        translator = self._translator
        commands = translator.from_client(data)
        event = translator.last_event
        self.observer.from_client(translator.last_type, data, event)
        if _is_tool_output(event):  # an answer to one of the primary's calls
            return
        if link.buffered() > self._limit:
            self._drop(_BEHIND, "shadow upstream reads too slowly (limits.max_queued_bytes)")
            return
        if commands is FORWARD:
            link.send_text(data)
            return
        for command in commands:
            if isinstance(command, ToUpstream):
                link.send_text(_utf8(command.text))
            elif isinstance(command, BinaryToUpstream):
                link.send_binary(command.data)
            # ToClient / CloseClient: answers meant for the client, who hears only the primary

    # -- shadow -> nobody ----------------------------------------------------------------------

    def _from_upstream(self, data: bytes, raw: bytes | None) -> None:
        """A message from the shadow's upstream: measured, then dropped."""
        if self.outcome is not None:
            return
        if data.startswith(self._delta_prefixes):
            self.observer.delta_from_upstream(data)
            return
        translator = self._translator
        translator.from_upstream(data)  # keeps its state (session open, names); output unused
        self._delta_prefixes = translator.delta_prefixes
        event = translator.last_event
        self.observer.from_upstream(translator.last_type, data, event)
        if event is not None and event.get("type") == "response.done":
            self._answer_tool_calls(event)

    def _from_upstream_binary(self, data: bytes) -> None:
        return None

    def _closed(self, code: int, reason: str, broken: bool) -> None:
        if code == 1006:
            reason = reason or "connection lost"
        self._drop(_FAILED, f"shadow upstream closed ({code} {reason})".strip())

    def _answer_tool_calls(self, event: dict[str, Any]) -> None:
        """Give each function call of a finished response the canned output."""
        response = event.get("response")
        output = response.get("output") if isinstance(response, dict) else None
        link = self._link
        if not isinstance(output, list) or link is None:
            return
        for item in output:
            if isinstance(item, dict) and item.get("type") == "function_call":
                call_id = item.get("call_id")
                if isinstance(call_id, str):
                    answer = {"type": "function_call_output", "call_id": call_id}
                    answer["output"] = self._tool_output
                    text = {"type": "conversation.item.create", "item": answer}
                    link.send_text(orjson.dumps(text))

    # -- accounting ----------------------------------------------------------------------------

    def _fields(self) -> dict[str, str]:
        return {"route": self.labels.route}

    def _account(self) -> None:
        if self._accounted:
            return
        self._accounted = True
        outcome = self.outcome or _COMPLETED
        self._metrics.shadow_sessions.labels(*self.labels.values(), outcome).inc()
        account_variant(self._metrics, self.labels, SHADOW, self.observer)
        self._log.info(
            "shadow_end",
            outcome=outcome,
            reason=self.reason,
            responses=self.observer.responses,
            turns=self.observer.turns,
            **self._fields(),
        )


def _is_tool_output(event: dict[str, Any] | None) -> bool:
    if event is None or event.get("type") != "conversation.item.create":
        return False
    item = event.get("item")
    return isinstance(item, dict) and item.get("type") == "function_call_output"


def _utf8(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text

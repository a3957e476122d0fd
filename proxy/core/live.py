"""The Live <-> Inworld translator: one OpenAI Live session served by one Inworld Realtime
session (sans-I/O: frames in, `proxy.core.live_events` commands out; the clock is injected).

Protocol: docs/protocol-notes.md#openai-live (events, session, delegation, audio), the mapping
in #openai-live-mapping; what is served and what is refused: docs/live.md.

Life of a session: the client's `session.start` is checked (`proxy.core.live_session`) and
answered with `Dial(model)`; once Inworld is open the relay calls `opened(rules)`, which sends
the proxy's first `session.update`; Inworld's `session.updated` becomes `session.started` (its
`error`, a Live `error` naming the field and a close). From then on:

- mic audio (`session.input_audio.append`) goes up re-wrapped, never decoded
  (`proxy.core.live_audio`); muted, as silence of the same length;
- Inworld's audio and transcripts are scheduled on the session timeline
  (`proxy.core.live_output`); its `speech_started` over a reply is a barge-in: pending output is
  flushed and each cut item truncated at what was heard;
- input transcripts get the span of the speech they transcribe (Inworld's VAD positions on the
  input timeline, which starts with the first append);
- function calls become delegations (`proxy.core.live_delegation`), context appends become
  items (`proxy.core.live_client`), and `session.update` may change the Responses tools;
- `session.close` ends with `session.usage.updated`, `session.closed` and close 1000.
Anything else gets a Live `error` (`unsupported_feature`, `invalid_event`, ...) and the session
goes on.

Every event the proxy sends Inworld carries an `event_id` of its own (`live_<n>`), remembered
with the client command behind it, so Inworld's errors reach the client with its
`client_event_id`, and errors about the proxy's own housekeeping (truncation) are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from proxy.config import Rules
from proxy.core.commands import CloseClient, ToClient, ToUpstream
from proxy.core.live_audio import append_frame, audio_bytes, bytes_per_second, silence
from proxy.core.live_audio import string_value as field
from proxy.core.live_client import CLIENT_HANDLERS, ClientCommands
from proxy.core.live_delegation import Delegations
from proxy.core.live_events import (
    Dial,
    LiveCommand,
    live_error,
    session_closed,
    usage_updated,
)
from proxy.core.live_output import OutputSchedule
from proxy.core.live_session import (
    DELEGATE_TOOL,
    LiveRefusal,
    LiveStart,
    Problem,
    inworld_session,
    parse_start,
    resource,
)
from proxy.core.live_upstream import EventBook, UpstreamEvents
from proxy.core.rewrite import SessionFieldError
from proxy.core.sniff import sniff_type

__all__ = ["UNSUPPORTED_EVENTS", "LiveTranslator"]

_APPEND = "session.input_audio.append"
# Live client events with no Inworld equivalent (docs/live.md): a Live `error`, session goes on.
UNSUPPORTED_EVENTS = frozenset(
    {
        "decision.create",
        "decision.item.create",
        "decision.item.delete",
        "session.output_audio.fixture.play",
        "transport.dtmf.send",
    }
)
REFUSED = 1008  # close code of a refused session.start (SDKs do not reconnect on it)


class LiveTranslator:
    """The sans-I/O core of one Live session.

    Args:
        session_id: the Live session id shown to the client (`live_...`).
        clock: monotonic seconds (the relay's loop time).
        wall: Unix seconds (`expires_at`, `created_at`).
        lead: seconds of audio the client may hold beyond the chunk it plays
            (`live.output_lead_ms`).
        client_delegation: give client-delegation sessions the hidden delegate tool.
        max_duration: `limits.max_session_duration` (0: none), for `expires_at`.
    """

    def __init__(
        self,
        *,
        session_id: str,
        clock: Callable[[], float],
        wall: Callable[[], float],
        lead: float,
        client_delegation: bool = True,
        max_duration: float = 0.0,
    ) -> None:
        self.session_id = session_id
        self._clock, self._wall, self._lead = clock, wall, lead
        self._client_delegation = client_delegation
        self._max_duration = max_duration
        self.phase = "new"  # new -> starting -> started -> closed
        self.start: LiveStart | None = None
        self.rules: Rules | None = None
        self.output = OutputSchedule(clock, lead)
        self.delegations = Delegations(model="", hidden=None, position=self.output.ms, wall=wall)
        self.resource: dict[str, Any] = {}
        self.last_type: str | None = None  # the last frame's type (metrics)
        self.last_event: dict[str, Any] | None = None  # the last frame, parsed (metrics)
        self.refusals: dict[str, int] = {}  # client commands answered with an error, by code
        self.start_id: Any = None  # the session.start's event_id
        self.input_origin: float | None = None  # clock time of the first append
        self.book = EventBook()
        self._upstream = UpstreamEvents(self)
        self._client = ClientCommands(self)
        self._format = "audio/pcm"
        self._silence: dict[tuple[int, str], bytes] = {}

    @property
    def started(self) -> bool:
        """`session.started` was sent (the watchdog's start deadline is met)."""
        return self.phase in ("started", "closed")

    # -- client -> Inworld -------------------------------------------------------------------

    def append(self, data: bytes) -> bytes | None:
        """A `session.input_audio.append` frame as Inworld's append (None: not a plain frame,
        or the session is not open; use `from_client`)."""
        b64 = field(data, b"audio") if self.phase in ("starting", "started") else None
        if b64 is None:
            return None
        size = audio_bytes(b64)
        if self.input_origin is None:
            self.input_origin = self._clock()
        if self._client.muted:
            b64 = silence(size, self._format, self._silence)
        return append_frame(b64)

    def from_client(self, data: bytes) -> list[LiveCommand]:
        """One TEXT message from the client."""
        self.last_event = None
        kind = self.last_type = sniff_type(data)
        if kind == _APPEND and (frame := self.append(data)) is not None:
            return [ToUpstream(frame)]
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self.refuse("The message is not valid JSON.", "invalid_json")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return self.refuse("An event is an object with a string 'type'.", "invalid_event")
        self.last_event, kind = event, event["type"]
        self.last_type = kind
        cid = event.get("event_id")
        if self.phase == "new":
            if kind == "session.start":
                return self._session_start(event, cid)
            self.phase = "closed"
            message = "Send session.start first (a reconnected socket must start a new session)."
            return [
                *self.refuse(message, "session_not_started", cid=cid),
                CloseClient(REFUSED, "session not started"),
            ]
        if self.phase == "closed":
            return []
        handler = CLIENT_HANDLERS.get(kind)
        if handler is not None:
            return handler(self._client, event, cid)
        if kind in UNSUPPORTED_EVENTS:
            message = f"{kind} is not served from Inworld (docs/live.md)."
            return self.refuse(message, "unsupported_feature", param="type", cid=cid)
        return self.refuse(f"Unknown event type {kind[:64]!r}.", "invalid_event", cid=cid)

    def refuse(
        self, message: str, code: str, *, param: str | None = None, cid: Any = None
    ) -> list[LiveCommand]:
        """A Live `error` for a client command (counted in `refusals`); the session goes on."""
        self.refusals[code] = self.refusals.get(code, 0) + 1
        return [ToClient(live_error(message, code=code, param=param, client_event_id=cid))]

    def _session_start(self, event: dict[str, Any], cid: Any) -> list[LiveCommand]:
        try:
            start, problems = parse_start(
                event.get("session"), client_delegation=self._client_delegation
            )
        except LiveRefusal as exc:
            self.phase = "closed"
            refused = self.refuse(str(exc), exc.code, param=exc.param, cid=cid)
            return [*refused, CloseClient(REFUSED, "session.start refused")]
        self.start, self.start_id, self.phase = start, cid, "starting"
        self.output = OutputSchedule(self._clock, self._lead)  # timeline 0: now
        self.output.rate = bytes_per_second(start.audio_format)
        self._format = start.audio_format["type"]
        lifetime = self._max_duration or 7200
        self.resource = resource(start, self.session_id, int(self._wall() + lifetime))
        hidden = DELEGATE_TOOL["name"] if start.delegation == "client" and start.tools else None
        backend = start.responses.get("model")
        self.delegations = Delegations(
            model=backend if isinstance(backend, str) else start.model,
            hidden=hidden,
            position=self.output.ms,
            wall=self._wall,
        )
        return [*self.problems(problems, cid), Dial(start.model)]

    def problems(self, problems: list[Problem], cid: Any) -> list[LiveCommand]:
        """A non-fatal `unsupported_feature` error per feature left out."""
        out: list[LiveCommand] = []
        for problem in problems:
            out += self.refuse(
                problem.message, code="unsupported_feature", param=problem.param, cid=cid
            )
        return out

    def opened(self, rules: Rules) -> list[LiveCommand]:
        """Inworld is open (with the route's `rules`): the proxy's first `session.update`,
        then the start's history items."""
        assert self.start is not None
        self.rules = rules
        try:
            session, _ = inworld_session(rules, self.start)
        except SessionFieldError as exc:
            self.phase = "closed"
            refused = self.refuse(str(exc), "invalid_value", param=exc.param, cid=self.start_id)
            return [*refused, CloseClient(REFUSED, "session.start refused")]
        out: list[LiveCommand] = [
            self.book.up({"type": "session.update", "session": session}, "start", self.start_id)
        ]
        for item in self.start.items:
            out.append(
                self.book.up({"type": "conversation.item.create", "item": item}, "input", None)
            )
        return out

    # -- the end -----------------------------------------------------------------------------

    def seconds(self) -> int:
        """Whole seconds since the session started (Live's usage)."""
        return max(int(self._clock() - self.output.origin), 0)

    def usage(self) -> bytes:
        """A `session.usage.updated` now."""
        return usage_updated(self.seconds())

    def closing(self, reason: str, cid: Any = None) -> list[bytes]:
        """The last events of a session whose start was accepted (`session.usage.updated`,
        `session.closed` with `reason`), once; nothing for one refused or never started."""
        accepted, self.phase = self.phase in ("starting", "started"), "closed"
        if not accepted:
            return []
        seconds = self.seconds()
        return [usage_updated(seconds), session_closed(reason, self.resource, seconds, cid)]

    # -- Inworld -> client --------------------------------------------------------------------

    def from_upstream(self, data: bytes) -> list[LiveCommand]:
        """One TEXT message from Inworld (`proxy.core.live_upstream`)."""
        return self._upstream.handle(data)

"""Per-session observation for metrics (pure: no asyncio, no aiohttp, no prometheus).

The relay feeds `SessionObserver` every frame it received, with the frame's type as the
`Translator` already knew it (sniffed on the fast path, parsed otherwise) and the parsed event
only when the translator parsed it anyway. Nothing is decoded or parsed for metrics.

An audio frame on the relay's hot path costs one integer addition and a length comparison:
frames of one length in a row are counted as a run (`_Run`), and a frame's audio size (the
base64 value's length x 3/4 - padding, `proxy.metrics.audio_size`) is measured only when its length
differs from the previous audio frame's in that direction. Clients and Inworld send
fixed-size chunks in a fixed envelope, so this is exact in practice; a frame as long as the
previous one but laid out differently (other padding; a longer `event_id` and shorter audio,
by a multiple of 4 characters) is counted with the previous frame's audio size.

Counters (messages, bytes, audio seconds, tokens, barge-ins, errors) are plain numbers on the
observer, read by `proxy.metrics.collectors` at scrape time and folded into its totals when
the session ends. Timings (turn latency, first text delta, response duration, barge-in
reaction, sampled overhead) are rare and go straight to the injected `TimingSink`.

Turn latency: the end of the user's turn is the latest of server `input_audio_buffer.
speech_stopped`, client `input_audio_buffer.commit` and client `response.create` seen before
`response.created`; the turn ends at that response's first `response.output_audio.delta`.
At most one observation per response, none for a response nobody asked for.

Barge-in reaction: a response is interrupted at the first server `input_audio_buffer.
speech_started` or client `response.cancel` while it is in flight. When it ends `cancelled`,
the sink gets the time from that mark to its last audio delta (`last_audio`; 0 when no audio
came after the mark) and to its `response.done` (`done`). Any interrupted response whose audio
went on more than `LATE_AUDIO_SECONDS` after the mark is counted (`count_late_audio`), whatever
its status. Besides a response's first audio delta, the clock is read for audio deltas only
between such a mark and `response.done`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from proxy.core.events import KNOWN_EVENT_TYPES, TEXT_DELTAS
from proxy.metrics.audio_size import PCM16_24K, b64_decoded_size, b64_size, bytes_per_second
from proxy.metrics.labels import OTHER, error_code_label

__all__ = [
    "DOWN",
    "LATE_AUDIO_SECONDS",
    "NULL_SINK",
    "PROTOCOLS",
    "TRANSPORTS",
    "UP",
    "WEBRTC",
    "WEBSOCKET",
    "Counted",
    "SessionObserver",
    "TimingSink",
]

UP = "client_to_upstream"
DOWN = "upstream_to_client"
WEBSOCKET, WEBRTC = "websocket", "webrtc"  # the client's transport (`transport` label)
TRANSPORTS = (WEBSOCKET, WEBRTC)
PROTOCOLS = ("realtime", "live")  # the client's API (`protocol` label): OpenAI Realtime or Live

_APPEND = "input_audio_buffer.append"
_AUDIO_DELTA = "response.output_audio.delta"
_RESPONSE_STATUSES = frozenset({"completed", "cancelled", "failed", "incomplete"})
LATE_AUDIO_SECONDS = 0.5  # audio this long after the user started speaking is "late"


class Counted(Protocol):
    """Something that counts the frames it forwarded (a native lane, `proxy.ws.lane`)."""

    @property
    def count(self) -> int: ...


class TimingSink(Protocol):
    """Where timings go (implemented by `proxy.metrics.collectors.Metrics`). Labels are bounded."""

    def observe_turn_latency(
        self, model: str, seconds: float, transport: str = "websocket"
    ) -> None: ...
    def observe_first_text_latency(self, model: str, seconds: float) -> None: ...
    def observe_response_duration(self, model: str, status: str, seconds: float) -> None: ...
    def observe_overhead(self, direction: str, seconds: float) -> None: ...
    def observe_barge_in_reaction(self, model: str, until: str, seconds: float) -> None: ...
    def count_late_audio(self, model: str) -> None: ...


class _NullSink:
    """A TimingSink that drops everything."""

    def observe_turn_latency(
        self, model: str, seconds: float, transport: str = "websocket"
    ) -> None:
        pass

    def observe_first_text_latency(self, model: str, seconds: float) -> None:
        pass

    def observe_response_duration(self, model: str, status: str, seconds: float) -> None:
        pass

    def observe_overhead(self, direction: str, seconds: float) -> None:
        pass

    def observe_barge_in_reaction(self, model: str, until: str, seconds: float) -> None:
        pass

    def count_late_audio(self, model: str) -> None:
        pass


NULL_SINK: TimingSink = _NullSink()


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


@dataclass(slots=True)
class _Response:
    started: float
    turn_start: float | None
    audio_seen: bool = False
    text_seen: bool = False
    user_spoke: bool = False
    cancel_requested: bool = False
    watch: bool = True  # an audio delta needs a look: the first one, or any after `interrupted`
    interrupted: float | None = None  # when the user spoke or the client cancelled
    last_audio: float | None = None  # the last audio delta after `interrupted`


@dataclass(slots=True)
class _Run:
    """Hot-path audio frames of one direction: the current run of frames of one `length`
    (each carrying `size` bytes of audio), and the totals of the runs before it."""

    length: int = -1
    size: int = 0
    count: int = 0
    frames: int = 0
    bytes: int = 0
    audio: int = 0

    def fold(self) -> None:
        """Add the current run to the totals; the run goes on from 0 at the same length."""
        if self.count:
            self.frames += self.count
            self.bytes += self.count * self.length
            self.audio += self.count * self.size
            self.count = 0

    def restart(self, length: int, size: int) -> None:
        """A frame of another length: fold the run, start one of `length` and `size`."""
        self.fold()
        self.length, self.size = length, size


class SessionObserver:
    """Plain-number metrics of one session.

    Args:
        sink: receives timings as they happen.
        clock: monotonic seconds (`time.monotonic` in production, a fake in tests); read only
            on turn-related events, never for an audio frame.
        model_label: maps a model name seen in `session.created`/`session.updated` (the client's
            name or Inworld's id) to a bounded label value (the Inworld model id, or `other`).
        model: the model name known before the session opens (`?model=`), if any.
        rewrites: the `Translator`'s rewrite tally (kind -> count), read by metrics.
        refusals: the `Translator`'s tally of client frames it refused (error code -> count).
        transport: the client's transport, `websocket` or `webrtc` (a label of the session,
            audio-seconds and barge-in counters; the sink labels turn latency itself).
        protocol: the client's API, `realtime` or `live` (a label of the session counters).
    """

    def __init__(
        self,
        sink: TimingSink,
        *,
        clock: Callable[[], float],
        model_label: Callable[[str | None], str],
        model: str | None = None,
        rewrites: dict[str, int] | None = None,
        refusals: dict[str, int] | None = None,
        transport: str = WEBSOCKET,
        protocol: str = "realtime",
    ) -> None:
        self._sink = sink
        self.transport = transport
        self.protocol = protocol
        self._clock = clock
        self._model_label = model_label
        self.model = model_label(model)
        self.messages: dict[str, dict[str, int]] = {UP: {}, DOWN: {}}  # direction -> type -> n
        self.bytes: dict[str, dict[str, int]] = {UP: {}, DOWN: {}}
        self.audio_seconds: dict[str, float] = {UP: 0.0, DOWN: 0.0}
        self.tokens: dict[tuple[str, str], int] = {}  # (model, kind) -> tokens
        self.barge_ins: dict[tuple[str, str], int] = {}  # (model, trigger) -> count
        self.errors: dict[tuple[str, str], int] = {}  # (source, code) -> count
        self.rewrites = {} if rewrites is None else rewrites
        self.refusals = {} if refusals is None else refusals
        self.turns = 0
        self.responses = 0
        self._rate_in = self._rate_out = PCM16_24K
        # The relay's audio fast path only counts runs here; `settle()` folds them in above.
        self._appends, self._deltas = _Run(), _Run()
        # Native lanes (`follow_lanes`) count more frames of the current runs themselves.
        self._up_lane: Counted | None = None
        self._down_lane: Counted | None = None
        self._up_seen = self._down_seen = 0
        self._turn_mark: float | None = None
        self._response: _Response | None = None

    # -- frames -------------------------------------------------------------------------------

    def from_client(
        self, kind: str | None, text: str | bytes, event: dict[str, Any] | None
    ) -> None:
        """A TEXT frame received from the client (`event`: the frame parsed, if it was)."""
        label = kind if kind is not None and kind in KNOWN_EVENT_TYPES else OTHER
        counts, sizes = self.messages[UP], self.bytes[UP]
        counts[label] = counts.get(label, 0) + 1
        size = _size(text)
        sizes[label] = sizes.get(label, 0) + size
        if label == _APPEND:
            self.audio_seconds[UP] += b64_decoded_size(text, "audio") / self._rate_in
        elif event is not None:
            if label in ("input_audio_buffer.commit", "response.create"):
                self._turn_mark = self._clock()
            elif label == "response.cancel" and self._response is not None:
                self._response.cancel_requested = True
                self._interrupt(self._response)

    def follow_lanes(self, up: Counted | None, down: Counted | None) -> None:
        """Count the frames these native lanes (`proxy.ws.lane`) take, appends (`up`) and
        deltas (`down`), as frames of the current run of their direction: a lane takes only
        frames of that run's length (`append_length`, `delta_length`)."""
        self._up_lane, self._down_lane = up, down
        self._up_seen = up.count if up is not None else 0
        self._down_seen = down.count if down is not None else 0

    @property
    def append_length(self) -> int:
        """The length of the current run of audio appends (-1 before the first)."""
        return self._appends.length

    @property
    def delta_length(self) -> int:
        """The length of the current run of audio deltas (-1 before the first)."""
        return self._deltas.length

    @property
    def watching_audio(self) -> bool:
        """The next audio delta needs a look (`delta_from_upstream`, not a native lane)."""
        response = self._response
        return response is not None and response.watch

    def _catch_up(self) -> None:
        """Add the frames the native lanes took since the last call to the current runs."""
        lane = self._up_lane
        if lane is not None and lane.count != self._up_seen:
            self._appends.count += lane.count - self._up_seen
            self._up_seen = lane.count
        lane = self._down_lane
        if lane is not None and lane.count != self._down_seen:
            self._deltas.count += lane.count - self._down_seen
            self._down_seen = lane.count

    def append_from_client(self, text: bytes) -> None:
        """An audio append the relay forwarded on its hot path (`from_client`, cheaper; call
        `settle()` before reading the tallies)."""
        run = self._appends
        if len(text) != run.length:
            self._catch_up()
            run.restart(len(text), b64_decoded_size(text, "audio"))
        run.count += 1

    def append_sized(self, length: int) -> bool:
        """Count an audio append known only by its payload's `length` (the relay's hot lane,
        before the frame is unmasked). False, counting nothing, when the previous append had
        another length: then call `append_from_client` with the payload. (Deltas have no such
        lane: a server's frames are not masked, and a delta lane measured no cheaper than the
        full path.)"""
        run = self._appends
        if length != run.length:
            return False
        run.count += 1
        return True

    def delta_from_upstream(self, text: bytes) -> None:
        """An audio delta the relay forwarded on its hot path (`from_upstream`, cheaper)."""
        run = self._deltas
        if len(text) != run.length:
            self._catch_up()
            run.restart(len(text), b64_decoded_size(text, "delta"))
        run.count += 1
        response = self._response
        if response is not None and response.watch:
            self._audio(response)

    def input_audio_seconds(self) -> float:
        """Seconds of input audio the client has sent so far, hot-path runs included, without
        folding them (the core's transcription `usage` reads it on commits, never per frame)."""
        self._catch_up()
        run = self._appends
        return self.audio_seconds[UP] + (run.audio + run.count * run.size) / self._rate_in

    def settle(self) -> None:
        """Fold the hot-path runs into `messages`, `bytes` and `audio_seconds` (readers of
        those call this first; so does a change of audio format)."""
        self._catch_up()
        for direction, kind, run, rate in (
            (UP, _APPEND, self._appends, self._rate_in),
            (DOWN, _AUDIO_DELTA, self._deltas, self._rate_out),
        ):
            run.fold()
            if run.frames:
                counts, sizes = self.messages[direction], self.bytes[direction]
                counts[kind] = counts.get(kind, 0) + run.frames
                sizes[kind] = sizes.get(kind, 0) + run.bytes
                self.audio_seconds[direction] += run.audio / rate
                run.frames = run.bytes = run.audio = 0

    def from_upstream(
        self, kind: str | None, text: str | bytes, event: dict[str, Any] | None
    ) -> None:
        """A TEXT frame received from Inworld (`event`: parsed and already fixed up, if it was)."""
        label = kind if kind is not None and kind in KNOWN_EVENT_TYPES else OTHER
        counts, sizes = self.messages[DOWN], self.bytes[DOWN]
        counts[label] = counts.get(label, 0) + 1
        size = _size(text)
        sizes[label] = sizes.get(label, 0) + size
        if event is not None:
            self._server_event(event)
            return
        response = self._response
        if label == _AUDIO_DELTA:
            self.audio_seconds[DOWN] += b64_decoded_size(text, "delta") / self._rate_out
            if response is not None and response.watch:
                self._audio(response)
        elif label in TEXT_DELTAS and response is not None and not response.text_seen:
            self._first_text(response)

    def overhead(self, direction: str, seconds: float) -> None:
        """A sampled frame's time inside the proxy."""
        self._sink.observe_overhead(direction, seconds)

    def count_barge_in(self, trigger: str) -> None:
        """A barge-in only the client's transport saw: a WebRTC call's buffered reply cut short
        (`turn_detected` or `client_cancel`) after the upstream had finished the response."""
        key = (self.model, trigger)
        self.barge_ins[key] = self.barge_ins.get(key, 0) + 1

    def count_error(self, source: str, code: object) -> None:
        """One error from `source` (`upstream`, `handshake`, ...) with a wire error code."""
        key = (source, error_code_label(code))
        self.errors[key] = self.errors.get(key, 0) + 1

    # -- parsed server events ----------------------------------------------------------------

    def _server_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        response = self._response
        if kind == _AUDIO_DELTA:  # parsed only before the session opened, or a legacy name
            delta = event.get("delta")
            if isinstance(delta, str):
                self.audio_seconds[DOWN] += b64_size(delta, 0, len(delta)) / self._rate_out
            if response is not None and response.watch:
                self._audio(response)
        elif kind in TEXT_DELTAS:
            if response is not None and not response.text_seen:
                self._first_text(response)
        elif kind == "input_audio_buffer.speech_started":
            if response is not None:
                response.user_spoke = True
                self._interrupt(response)
        elif kind == "input_audio_buffer.speech_stopped":
            self._turn_mark = self._clock()
        elif kind == "response.created":
            self._response = _Response(started=self._clock(), turn_start=self._turn_mark)
            self._turn_mark = None
        elif kind == "response.done":
            self._response_done(event, response)
        elif kind in ("session.created", "session.updated"):
            self._session(event.get("session"))
        elif kind == "error":
            self.count_error("upstream", _get(event, "error", "code"))

    def _audio(self, response: _Response) -> None:
        """An audio delta of a `watch`ed response: its first (turn latency), or one after the
        user interrupted it (its time is kept)."""
        if response.interrupted is not None:
            response.last_audio = self._clock()
        else:
            response.watch = False
        if not response.audio_seen:
            response.audio_seen = True
            if response.turn_start is not None:
                self.turns += 1
                self._sink.observe_turn_latency(self.model, self._clock() - response.turn_start)

    def _interrupt(self, response: _Response) -> None:
        """The user spoke (or the client cancelled) while `response` was in flight."""
        if response.interrupted is None:
            response.interrupted = self._clock()
            response.watch = True

    def _reaction(self, response: _Response, status: str) -> None:
        """Barge-in reaction of an interrupted response that just ended with `status`."""
        mark = response.interrupted
        assert mark is not None
        talked = 0.0 if response.last_audio is None else response.last_audio - mark
        if talked > LATE_AUDIO_SECONDS:
            self._sink.count_late_audio(self.model)
        if status == "cancelled":
            self._sink.observe_barge_in_reaction(self.model, "last_audio", talked)
            self._sink.observe_barge_in_reaction(self.model, "done", self._clock() - mark)

    def _first_text(self, response: _Response) -> None:
        response.text_seen = True
        if response.turn_start is not None:
            self._sink.observe_first_text_latency(self.model, self._clock() - response.turn_start)

    def _response_done(self, event: dict[str, Any], response: _Response | None) -> None:
        self._response = None
        self.responses += 1
        body = event.get("response")
        status = _get(body, "status")
        label = status if isinstance(status, str) and status in _RESPONSE_STATUSES else OTHER
        if response is not None:
            self._sink.observe_response_duration(
                self.model, label, self._clock() - response.started
            )
            if response.interrupted is not None:
                self._reaction(response, label)
        if label == "cancelled":
            reason = _get(body, "status_details", "reason")
            trigger = None
            if reason == "turn_detected" or (reason is None and response and response.user_spoke):
                trigger = "turn_detected"
            elif reason == "client_cancelled" or (response and response.cancel_requested):
                trigger = "client_cancel"
            if trigger is not None:
                key = (self.model, trigger)
                self.barge_ins[key] = self.barge_ins.get(key, 0) + 1
        self._usage(_get(body, "usage"))

    def _usage(self, usage: Any) -> None:
        """Count `response.usage` tokens by kind; `*_other` holds what the details leave out."""
        if not isinstance(usage, dict):
            return
        for side, kinds in (
            ("input", ("text", "audio", "image")),
            ("output", ("text", "audio")),
        ):
            total = usage.get(f"{side}_tokens")
            details = usage.get(f"{side}_token_details")
            details = details if isinstance(details, dict) else {}
            counted = 0
            for kind in kinds:
                n = details.get(f"{kind}_tokens")
                if isinstance(n, int) and n > 0:
                    self._add_tokens(f"{side}_{kind}", n)
                    counted += n
            if isinstance(total, int) and total > counted:
                self._add_tokens(f"{side}_other", total - counted)
            cached = details.get("cached_tokens") if side == "input" else None
            if isinstance(cached, int) and cached > 0:
                self._add_tokens("input_cached", cached)

    def _add_tokens(self, kind: str, n: int) -> None:
        key = (self.model, kind)
        self.tokens[key] = self.tokens.get(key, 0) + n

    def _session(self, session: Any) -> None:
        if not isinstance(session, dict):
            return
        model = session.get("model")
        if isinstance(model, str) and model:
            self.model = self._model_label(model)
        rate_in = bytes_per_second(_get(session, "audio", "input", "format"))
        rate_out = bytes_per_second(_get(session, "audio", "output", "format"))
        self.settle()  # audio so far counts at the old rates
        self._rate_in = rate_in or self._rate_in
        self._rate_out = rate_out or self._rate_out


def _size(text: str | bytes) -> int:
    """A frame's size in bytes on the wire."""
    if isinstance(text, bytes):
        return len(text)
    return len(text) if text.isascii() else len(text.encode())

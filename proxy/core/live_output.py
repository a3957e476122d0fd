"""The Live session's timeline and its output schedule (pure; the clock is injected).

Live clients play what arrives, in order, with no way to clear their buffer, and read
transcript fragments placed on a session timeline in ms
(docs/protocol-notes.md#openai-live-audio). Inworld sends a reply faster than real time. So
the proxy schedules each audio delta to leave when the client is about to need it: a chunk is
released (`Play(frame, at)`; `proxy.session.live_pacer` carries it out) once the client holds
at most `lead` seconds of audio it has not played yet, and plays after that audio, or at once
when there is none (the model of the client's player). The schedule is the output
timeline: an output transcript fragment is released with, and timed as, the next audio chunk
of its item (Inworld sends a chunk's words just before it); fragments no chunk follows go out
at the end of the item's audio.

Barge-in: when Inworld hears the user start speaking while audio is still scheduled or a
response is still running, `interrupt()` drops what is pending (`FlushOutput`), marks the
running items and response cut (their later deltas are dropped), and reports how much of each
scheduled item was heard, for `conversation.item.truncate`. The client then holds at most
`lead` plus one chunk of audio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proxy.core.live_audio import audio_ms, delta_frame
from proxy.core.live_events import FlushOutput, LiveCommand, Play, transcript_delta

__all__ = ["OutputSchedule"]

_CUT_MEMORY = 64  # cut items/responses remembered (late deltas of older ones cannot come)


@dataclass(slots=True)
class _Item:
    """One assistant item's audio on the timeline (seconds of the translator's clock)."""

    start: float
    end: float


class OutputSchedule:
    """Output audio and transcripts of one Live session, placed on its timeline.

    Args:
        clock: monotonic seconds (the relay's loop time; a fake in tests).
        lead: seconds a chunk is released before it is due to play.
    """

    def __init__(self, clock: Callable[[], float], lead: float) -> None:
        self._clock = clock
        self.lead = lead
        self.origin = clock()  # timeline 0: the session's start
        self.rate = 48_000  # bytes per second of output audio (the session's format)
        self._end = self.origin  # where the scheduled audio ends
        self._items: dict[str, _Item] = {}  # items with scheduled audio, oldest first
        self._text: dict[str, str] = {}  # transcript waiting for its item's next chunk
        self._cut: list[str] = []  # items and responses whose output is dropped
        self.response: str | None = None  # the response Inworld is running, if any

    # -- the timeline ------------------------------------------------------------------------

    def ms(self, at: float | None = None) -> int:
        """Timeline position (ms since the session started) of clock time `at` (now)."""
        return max(int(((self._clock() if at is None else at) - self.origin) * 1000), 0)

    @property
    def busy(self) -> bool:
        """Audio is still scheduled to play, or a response is running."""
        return self._end > self._clock() or self.response is not None

    def is_cut(self, key: str | None) -> bool:
        """Output of this item or response is being dropped (the user spoke over it)."""
        return key is not None and key in self._cut

    # -- output ------------------------------------------------------------------------------

    def audio(self, b64: bytes, item_id: str | None, response_id: str | None) -> list[LiveCommand]:
        """A delta's audio (base64 bytes): its frame, scheduled, after its waiting transcript."""
        if self.is_cut(item_id) or self.is_cut(response_id):
            return []
        at, start = self._slot()
        end = self._end = start + audio_ms(b64, self.rate) / 1000
        out: list[LiveCommand] = []
        key = item_id or ""
        item = self._items.get(key)
        if item is None:
            self._items[key] = _Item(start, end)
        else:
            item.end = end
        text = self._text.pop(key, None)
        if text:
            frame = transcript_delta(
                "session.output_transcript.delta", text, self.ms(start), self.ms(end)
            )
            out.append(Play(frame, at))
        out.append(Play(delta_frame(b64), at))
        return out

    def _slot(self) -> tuple[float, float]:
        """(release time, play start) of the next frame: it leaves once the client holds at
        most `lead` seconds of unplayed audio, and plays after that audio (or at once)."""
        at = max(self._clock(), self._end - self.lead)
        return at, max(self._end, at)

    def transcript(self, delta: str, item_id: str | None) -> None:
        """An output transcript fragment: it waits for its item's next audio chunk."""
        if delta and not self.is_cut(item_id):
            key = item_id or ""
            self._text[key] = self._text.get(key, "") + delta

    def text_now(self, delta: str, item_id: str | None) -> list[LiveCommand]:
        """Text of a reply without audio: an output transcript fragment, now."""
        if not delta or self.is_cut(item_id):
            return []
        at, start = self._slot()
        frame = transcript_delta(
            "session.output_transcript.delta", delta, self.ms(start), self.ms(start)
        )
        return [Play(frame, at)]

    def item_done(self, item_id: str | None) -> list[LiveCommand]:
        """The item's audio is complete: its waiting transcript goes out where its audio ends."""
        key = item_id or ""
        text = self._text.pop(key, None)
        if not text or self.is_cut(item_id):
            return []
        at, start = self._slot()
        frame = transcript_delta(
            "session.output_transcript.delta", text, self.ms(start), self.ms(start)
        )
        return [Play(frame, at)]

    def response_started(self, response_id: str | None) -> None:
        """Inworld started a response."""
        self.response = response_id

    def response_done(self, response_id: str | None) -> None:
        """Inworld finished a response."""
        if response_id is None or response_id == self.response:
            self.response = None

    # -- barge-in ----------------------------------------------------------------------------

    def interrupt(self) -> tuple[list[LiveCommand], list[tuple[str, int]]]:
        """The user started speaking: if output is busy, drop what is pending and cut the
        running items; returns the commands and, per item with audio scheduled past now, the
        ms of it that was heard (for `conversation.item.truncate`)."""
        if not self.busy:
            return [], []
        now = self._clock()
        heard = [
            (key, max(int((now - item.start) * 1000), 0))
            for key, item in self._items.items()
            if item.end > now and key
        ]
        for key in [*self._items, *self._text]:
            self._remember_cut(key)
        if self.response is not None:
            self._remember_cut(self.response)
        self._items.clear()
        self._text.clear()
        self._end = min(self._end, now)
        return [FlushOutput()], heard

    def forget_played(self) -> None:
        """Drop the bookkeeping of items whose audio has all played (called per response)."""
        now = self._clock()
        for key in [k for k, item in self._items.items() if item.end <= now]:
            del self._items[key]

    def _remember_cut(self, key: str) -> None:
        if key and key not in self._cut:
            self._cut.append(key)
            del self._cut[:-_CUT_MEMORY]

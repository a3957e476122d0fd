"""The outgoing audio buffer of one call and the `output_audio_buffer.*` events (pure).

Over WebRTC, OpenAI owns the buffer between the model and the listener: it sends no audio
deltas on the data channel, tells the client when the buffer starts and stops playing, and
clears it on barge-in, then truncates the interrupted item to what was actually heard
(docs/protocol-notes.md#openai-webrtc-events). `Playout` is that buffer: upstream deltas are
`push`ed (PCM16 mono at `rate`), the outgoing track `pull`s one frame per frame time, and the
events come back from those calls for the call shell to send:

- `output_audio_buffer.started {response_id}` when a response's first audio arrives and the
  buffer is idle (its first frame goes out with the next pull), else when that frame is pulled
  (OpenAI sends it right after `response.content_part.added`, before `response.done`);
- `output_audio_buffer.stopped {response_id}` once that response is done upstream and its last
  frame has been pulled;
- `output_audio_buffer.cleared {response_id}` from `clear()` (server-VAD barge-in, or the
  client's `output_audio_buffer.clear`), together with the `Truncation` to send upstream:
  the interrupted item and the milliseconds of it the track played. Deltas of a cleared
  response that still arrive are dropped.

No asyncio, no aiortc, no clock: tests drive it frame by frame.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["Cleared", "Playout", "Truncation", "buffer_event"]


def buffer_event(kind: str, response_id: str | None) -> dict[str, Any]:
    """An `output_audio_buffer.<kind>` event (its id in the `event_<16 hex>` form OpenAI uses
    for these)."""
    return {
        "type": f"output_audio_buffer.{kind}",
        "event_id": f"event_{uuid.uuid4().hex[:16]}",
        "response_id": response_id,
    }


@dataclass(frozen=True, slots=True)
class Truncation:
    """Truncate `item_id` upstream to the `audio_end_ms` the listener was played."""

    item_id: str
    audio_end_ms: int

    def event(self) -> dict[str, Any]:
        """The `conversation.item.truncate` client event for the upstream."""
        return {
            "type": "conversation.item.truncate",
            "event_id": f"event_{uuid.uuid4().hex[:16]}",
            "item_id": self.item_id,
            "content_index": 0,
            "audio_end_ms": self.audio_end_ms,
        }


@dataclass(frozen=True, slots=True)
class Cleared:
    """What `Playout.clear` did: the events to send, the truncation for the upstream (None when
    nothing of the item was cut), and whether the cleared response had already finished
    upstream (then only the buffer knew it was still being heard)."""

    events: list[dict[str, Any]]
    truncation: Truncation | None = None
    finished: bool = False


@dataclass(slots=True)
class _Chunk:
    response_id: str | None
    item_id: str | None
    pcm: bytes
    offset: int = 0


class Playout:
    """Audio waiting to be played, in order, with the response and item it belongs to.

    Args:
        rate: samples per second of the PCM16 audio pushed and pulled.
        channels: interleaved channels (1 or 2).
        frame_ms: milliseconds per pulled frame.
    """

    def __init__(self, *, rate: int = 24000, channels: int = 1, frame_ms: int = 20) -> None:
        self.rate = rate
        self._bytes_per_second = rate * 2 * channels
        self.frame_bytes = rate * frame_ms // 1000 * 2 * channels
        self._silence = bytes(self.frame_bytes)
        self._queue: deque[_Chunk] = deque()
        self.queued = 0  # bytes waiting
        self.playing: str | None = None  # response started and not yet stopped or cleared
        self._last: str | None = None  # the last response that started
        self._done: set[str | None] = set()  # responses done upstream, still in the buffer
        self._dropped: set[str | None] = set()  # cleared responses whose deltas may still come
        self._item: str | None = None  # the item whose audio the track plays (or last played)
        self._item_bytes = 0  # bytes of `_item` pulled so far

    # -- upstream side ------------------------------------------------------------------------

    def push(
        self, response_id: str | None, item_id: str | None, pcm: bytes
    ) -> list[dict[str, Any]]:
        """Queue a delta's audio (dropped for a response already cleared); return the
        `started` event when this begins a response on an idle buffer."""
        if response_id in self._dropped or not pcm:
            return []
        events = []
        if self.playing is None and not self._queue:
            self.playing = self._last = response_id
            events.append(buffer_event("started", response_id))
        self._queue.append(_Chunk(response_id, item_id, pcm))
        self.queued += len(pcm)
        return events

    def response_done(self, response_id: str | None) -> list[dict[str, Any]]:
        """The upstream finished `response_id`: `stopped` now if its audio has all played."""
        self._dropped.discard(response_id)
        if any(chunk.response_id == response_id for chunk in self._queue):
            self._done.add(response_id)
        elif self.playing == response_id and response_id is not None:
            self.playing = None
            return [buffer_event("stopped", response_id)]
        return []

    # -- track side ---------------------------------------------------------------------------

    def pull(self) -> tuple[bytes, list[dict[str, Any]]]:
        """The next frame (silence when nothing waits) and the events it causes."""
        if not self._queue:
            return self._silence, []
        events: list[dict[str, Any]] = []
        out = bytearray()
        need = self.frame_bytes
        while need and self._queue:
            chunk = self._queue[0]
            if chunk.response_id != self.playing:
                if self.playing is not None:
                    events.append(buffer_event("stopped", self.playing))
                self.playing = self._last = chunk.response_id
                events.append(buffer_event("started", chunk.response_id))
            if chunk.item_id != self._item:
                self._item, self._item_bytes = chunk.item_id, 0
            take = min(need, len(chunk.pcm) - chunk.offset)
            out += chunk.pcm[chunk.offset : chunk.offset + take]
            chunk.offset += take
            need -= take
            self.queued -= take
            self._item_bytes += take
            if chunk.offset == len(chunk.pcm):
                self._queue.popleft()
                rest = self._queue[0].response_id if self._queue else None
                if chunk.response_id in self._done and rest != chunk.response_id:
                    self._done.discard(chunk.response_id)
                    events.append(buffer_event("stopped", chunk.response_id))
                    self.playing = None
        if need:
            out += self._silence[:need]
        return bytes(out), events

    # -- barge-in -----------------------------------------------------------------------------

    def clear(self, *, always: bool = False) -> Cleared:
        """Drop everything queued at once.

        The `cleared` event comes only when a response was playing or queued, unless `always`
        (the client asked).
        """
        response = self.playing or (self._queue[0].response_id if self._queue else None)
        if response is None and not always:
            return Cleared([])
        finished = response is not None and response in self._done
        truncation = None
        if self.playing is not None and self._item is not None:
            dropped = any(chunk.item_id == self._item for chunk in self._queue)
            if dropped or self.playing not in self._done:
                played = self._item_bytes * 1000 // self._bytes_per_second
                truncation = Truncation(self._item, played)
        elif self._queue and self._queue[0].item_id is not None:
            truncation = Truncation(self._queue[0].item_id, 0)  # queued, never heard
        for chunk in self._queue:
            if chunk.response_id not in self._done:
                self._dropped.add(chunk.response_id)
        if response is not None and response not in self._done:
            self._dropped.add(response)
        self._queue.clear()
        self._done.clear()
        self.queued = 0
        self.playing = None
        return Cleared([buffer_event("cleared", response or self._last)], truncation, finished)

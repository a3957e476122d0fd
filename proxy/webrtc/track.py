"""The call's outgoing audio track: the `Playout` buffer, paced in real time for aiortc.

aiortc's sender asks `recv()` for the next frame as soon as it has encoded the previous one,
so the track paces itself (docs/protocol-notes.md#webrtc-aiortc): frame n is handed out at
`start + n x 20 ms` (monotonic clock), silence when nothing waits, so RTP never stalls and the
RTP clock stays continuous across barge-ins (a cleared buffer just means silence next frame).
Audio arriving while the track waits with nothing to play is `nudge`d out at once instead of at
the next slot (up to 20 ms sooner, 10 on average: the start of every reply); later frames keep
to the schedule.
A track that fell behind (a busy event loop) catches up without sleeping, and one that fell
more than a second behind restarts its schedule instead of bursting.

The events `Playout.pull` returns (`output_audio_buffer.started` / `.stopped`) go to `emit`
when the frame that caused them is handed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from proxy.webrtc.audio import OUT_CHANNELS, OUT_RATE, pcm_frame
from proxy.webrtc.playout import Playout

__all__ = ["PlayoutTrack"]

_FRAME_MS = 20
_SAMPLES = OUT_RATE * _FRAME_MS // 1000
_RESYNC_S = 1.0


class PlayoutTrack(MediaStreamTrack):
    """An audio `MediaStreamTrack` playing `playout` (PCM16 stereo 48 kHz).

    Args:
        playout: the call's buffer (at `OUT_RATE`, `OUT_CHANNELS`).
        emit: receives each event a pulled frame causes.
        on_frame: told the monotonic time each frame with audio is handed out (for the
            bench's added-delay measure; None in production).
    """

    kind = "audio"

    def __init__(
        self,
        playout: Playout,
        emit: Callable[[dict[str, Any]], None],
        *,
        on_frame: Callable[[float, bytes], None] | None = None,
    ) -> None:
        super().__init__()
        self._playout = playout
        self._emit = emit
        self._on_frame = on_frame
        self._start: float | None = None
        self._pts = 0
        self._nudged = asyncio.Event()
        self._silent = True  # the last frame handed out was silence

    def nudge(self) -> None:
        """Audio arrived in an empty buffer: hand it out now, not at the next slot."""
        self._nudged.set()

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms frame, at its time."""
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._pts += _SAMPLES
            due = self._start + self._pts / OUT_RATE
            if due > now and not (self._silent and self._playout.queued):
                if self._playout.queued:  # a reply playing: keep to the schedule
                    await asyncio.sleep(due - now)
                else:  # silence: wait for the slot or for audio, whichever comes first
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(due - now):
                            await self._nudged.wait()
            elif now - due > _RESYNC_S:
                self._start = now - self._pts / OUT_RATE
        self._nudged.clear()
        queued = self._playout.queued
        self._silent = not queued
        pcm, events = self._playout.pull()
        for event in events:
            self._emit(event)
        if queued and self._on_frame is not None:
            self._on_frame(time.monotonic(), pcm)
        return pcm_frame(pcm, OUT_RATE, self._pts, OUT_CHANNELS)

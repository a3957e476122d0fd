"""The input audio buffer: accumulation, voice activity and commit into a user item.

Implements the buffer half of server-VAD and manual turns (docs/emulator.md#voice-turns). The engine
decides what a boundary means (commit, barge-in, auto-response); this module tracks the
audio and builds the commit's event sequence.
"""

import copy
from dataclasses import dataclass

from .audio import EnergyVad, VadEvent
from .conversation import Conversation
from .ids import Event, IdFactory

__all__ = ["Boundary", "InputAudioBuffer"]


@dataclass(frozen=True, slots=True)
class Boundary:
    """A VAD boundary and the id of the user item it belongs to."""

    vad: VadEvent
    item_id: str


class InputAudioBuffer:
    """Buffered client audio (PCM16 24 kHz) with an energy VAD over the session timeline.

    The user item id is assigned when speech starts, so ``speech_started``, ``speech_stopped``
    and ``committed`` agree on it; a commit without detected speech gets a fresh id.
    """

    def __init__(self, *, threshold: float, min_speech_ms: int) -> None:
        """Create an empty buffer at timeline position 0."""
        self._vad = EnergyVad(threshold=threshold, min_speech_ms=min_speech_ms)
        self._bytes = 0
        self._speech = False
        self._item_id: str | None = None

    @property
    def empty(self) -> bool:
        """Whether no audio is buffered since the last commit or clear."""
        return self._bytes == 0

    @property
    def heard_speech(self) -> bool:
        """Whether speech was detected in the buffered audio."""
        return self._speech

    def feed(self, pcm: bytes, *, silence_ms: int, ids: IdFactory) -> list[Boundary]:
        """Buffer ``pcm`` and return the speech boundaries it completes, in order."""
        self._bytes += len(pcm)
        boundaries: list[Boundary] = []
        for vad in self._vad.feed(pcm, silence_ms=silence_ms):
            if vad.kind == "speech_started":
                self._speech = True
                self._item_id = ids.prefixed("item")
            boundaries.append(Boundary(vad, self._item_id or ids.prefixed("item")))
        return boundaries

    def clear(self) -> None:
        """Drop the buffered audio and any speech in progress."""
        self._vad.reset()
        self._bytes = 0
        self._speech = False
        self._item_id = None

    def commit(
        self,
        conversation: Conversation,
        ids: IdFactory,
        *,
        transcript: str,
        transcribe: bool,
    ) -> tuple[str, list[Event]]:
        """Turn the buffer into a user item appended to ``conversation``; then clear.

        Returns ``(item_id, events)``: ``input_audio_buffer.committed`` →
        ``conversation.item.added`` → (``...input_audio_transcription.completed`` when
        ``transcribe``) → ``conversation.item.done``. The item's ``input_audio`` part carries
        ``transcript`` only when ``transcribe`` (else ``null``, as without STT configured).
        """
        item_id = self._item_id or ids.prefixed("item")
        self.clear()
        part: Event = {"type": "input_audio", "transcript": None}
        item: Event = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [part],
        }
        previous = conversation.append(item)
        events = [
            ids.event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id),
            ids.event(
                "conversation.item.added", previous_item_id=previous, item=copy.deepcopy(item)
            ),
        ]
        if transcribe:
            part["transcript"] = transcript
            events.append(
                ids.event(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item_id,
                    content_index=0,
                    transcript=transcript,
                )
            )
        events.append(
            ids.event("conversation.item.done", previous_item_id=previous, item=copy.deepcopy(item))
        )
        return item_id, events

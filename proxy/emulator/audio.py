"""Pure audio helpers: deterministic reply synthesis and an energy voice-activity detector.

All audio is PCM16, mono, little-endian, 24 kHz (the Inworld default,
docs/protocol-notes.md#inworld-audio-formats). The synthesizer stands in for TTS; the VAD stands
in for Inworld's turn detection (docs/emulator.md#voice-turns). Nothing here does I/O or keeps
global state.
"""

import base64
import math
import operator
import sys
from array import array
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SAMPLE_RATE",
    "EnergyVad",
    "VadEvent",
    "pcm16_silence",
    "pcm16_tone",
    "reply_audio_ms",
    "synthesize_reply",
]

SAMPLE_RATE = 24_000
_SAMPLES_PER_MS = SAMPLE_RATE // 1000
# A chord of 200, 300 and 450 Hz repeats exactly every 20 ms (their gcd is 50 Hz), so one
# 480-sample period tiles seamlessly into chunks of any length.
_CHORD_HZ = (200.0, 300.0, 450.0)
_PERIOD_SAMPLES = SAMPLE_RATE // 50


def _to_le_bytes(samples: "array[int]") -> bytes:
    """Serialize int16 samples little-endian regardless of the host byte order."""
    if sys.byteorder == "big":  # pragma: no cover - little-endian hosts only in CI
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def _from_le_bytes(data: bytes) -> "array[int]":
    """Parse little-endian int16 samples; ``len(data)`` must be even."""
    samples = array("h", data)
    if sys.byteorder == "big":  # pragma: no cover - little-endian hosts only in CI
        samples.byteswap()
    return samples


def _chord_period(amplitude: int) -> bytes:
    """One 20 ms period of the reply chord with peak roughly ``amplitude``."""
    per_tone = amplitude / len(_CHORD_HZ)
    samples = array(
        "h",
        (
            round(sum(per_tone * math.sin(2 * math.pi * hz * i / SAMPLE_RATE) for hz in _CHORD_HZ))
            for i in range(_PERIOD_SAMPLES)
        ),
    )
    return _to_le_bytes(samples)


def pcm16_tone(duration_ms: int, *, amplitude: int = 8000, offset_ms: int = 0) -> bytes:
    """Deterministic chord of ``duration_ms`` as PCM16 24 kHz bytes.

    ``offset_ms`` shifts the phase so consecutive calls join without clicks. The RMS of the
    result is about ``0.4 * amplitude`` (~3,300 for the default), far above the default VAD
    threshold. Raises ``ValueError`` for a negative duration or an amplitude over 32767.
    """
    if duration_ms < 0 or not 0 <= amplitude <= 32767:
        raise ValueError("duration_ms must be >= 0 and amplitude within 0..32767")
    return _tile(_chord_period(amplitude), duration_ms, offset_ms)


def _tile(period: bytes, duration_ms: int, offset_ms: int) -> bytes:
    """``duration_ms`` of a 20 ms ``period`` starting ``offset_ms`` into it."""
    n_bytes = duration_ms * _SAMPLES_PER_MS * 2
    start = (offset_ms * _SAMPLES_PER_MS % _PERIOD_SAMPLES) * 2
    reps = (start + n_bytes) // len(period) + 1
    return (period * reps)[start : start + n_bytes]


def pcm16_silence(duration_ms: int) -> bytes:
    """``duration_ms`` of digital silence as PCM16 24 kHz bytes."""
    return bytes(duration_ms * _SAMPLES_PER_MS * 2)


def reply_audio_ms(text: str, *, ms_per_char: int, max_ms: int) -> int:
    """Audio length of a spoken reply: proportional to ``text``, capped, at least one 20 ms."""
    return max(20, min(max_ms, len(text) * ms_per_char))


def synthesize_reply(text: str, *, chunk_ms: int, ms_per_char: int, max_ms: int) -> list[str]:
    """Fake TTS: base64 PCM16 chunks of ``chunk_ms`` (the last may be shorter) for ``text``.

    Deterministic: the same arguments always give the same chunks. The total duration is
    ``reply_audio_ms(text, ...)``.
    """
    total = reply_audio_ms(text, ms_per_char=ms_per_char, max_ms=max_ms)
    period = _chord_period(6000)
    encoded: dict[tuple[int, int], str] = {}  # (length, phase) -> base64; most chunks repeat
    chunks: list[str] = []
    for offset in range(0, total, chunk_ms):
        shape = (min(chunk_ms, total - offset), offset % 20)
        if shape not in encoded:
            encoded[shape] = base64.b64encode(_tile(period, *shape)).decode("ascii")
        chunks.append(encoded[shape])
    return chunks


@dataclass(frozen=True, slots=True)
class VadEvent:
    """A speech boundary at ``ms`` on the session's input-audio timeline."""

    kind: Literal["speech_started", "speech_stopped"]
    ms: int


class EnergyVad:
    """RMS-energy voice-activity detector over 20 ms windows of PCM16 24 kHz audio.

    Speech starts once ``min_speech_ms`` of consecutive windows exceed ``threshold`` (the
    event's ``ms`` is the start of the first loud window); it stops after ``silence_ms`` (given
    per ``feed`` call, so session updates apply at once) of windows below it (the event's ``ms``
    is the end of the last loud window). Partial windows carry over between calls.
    """

    WINDOW_MS = 20

    def __init__(self, *, threshold: float, min_speech_ms: int = 60) -> None:
        """Create a detector at timeline position 0, not in speech."""
        self._threshold_sq = threshold * threshold
        self._min_speech_ms = min_speech_ms
        self._window_bytes = self.WINDOW_MS * _SAMPLES_PER_MS * 2
        self._pending = b""
        self._position_ms = 0
        self._in_speech = False
        self._run_start: int | None = None
        self._run_ms = 0
        self._last_loud_end = 0
        self._silence_ms = 0

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio analysed so far (complete windows only)."""
        return self._position_ms

    @property
    def in_speech(self) -> bool:
        """Whether speech has started and not yet stopped."""
        return self._in_speech

    def reset(self) -> None:
        """Forget any speech in progress; the timeline position is kept."""
        self._in_speech = False
        self._run_start = None
        self._run_ms = 0
        self._silence_ms = 0

    def feed(self, pcm: bytes, *, silence_ms: int) -> list[VadEvent]:
        """Analyse ``pcm`` and return the speech boundaries it completes, in order."""
        data = self._pending + pcm
        whole = len(data) - len(data) % self._window_bytes
        self._pending = data[whole:]
        events: list[VadEvent] = []
        for start in range(0, whole, self._window_bytes):
            samples = _from_le_bytes(data[start : start + self._window_bytes])
            energy = sum(map(operator.mul, samples, samples)) / len(samples)
            event = self._step(energy > self._threshold_sq, silence_ms)
            if event is not None:
                events.append(event)
        return events

    def _step(self, loud: bool, silence_ms: int) -> VadEvent | None:
        """Advance one window; return the boundary it completes, if any."""
        window_start = self._position_ms
        self._position_ms += self.WINDOW_MS
        if not self._in_speech:
            if not loud:
                self._run_start, self._run_ms = None, 0
                return None
            if self._run_start is None:
                self._run_start = window_start
            self._run_ms += self.WINDOW_MS
            if self._run_ms < self._min_speech_ms:
                return None
            self._in_speech, self._silence_ms = True, 0
            self._last_loud_end = self._position_ms
            return VadEvent("speech_started", self._run_start)
        if loud:
            self._last_loud_end, self._silence_ms = self._position_ms, 0
            return None
        self._silence_ms += self.WINDOW_MS
        if self._silence_ms < silence_ms:
            return None
        self.reset()
        return VadEvent("speech_stopped", self._last_loud_end)

"""Audio conversions of a call, with PyAV: microphone frames to upstream appends, upstream
deltas to the PCM the outgoing track plays.

Formats are the session's (`audio.input.format` / `audio.output.format`, as Inworld reports
them in `session.created`/`session.updated`): `audio/pcm` (PCM16 little-endian mono, 24 kHz
unless a rate is given), `audio/pcmu` and `audio/pcma` (G.711 at 8 kHz);
docs/protocol-notes.md#inworld-audio-formats.

- `MicEncoder`: aiortc's decoded Opus frames (s16, stereo, 48 kHz) go through one stateful
  resampler for the whole call (per-frame resamplers click at frame edges) to mono at the input
  format's rate, are G.711-encoded when the format says so, and leave as complete
  `input_audio_buffer.append` events of about `batch_ms` each (within a millisecond)
  (docs/protocol-notes.md#openai-webrtc-media).
- `SpeakerDecoder`: a delta's audio (base64 already decoded) becomes PCM16 stereo 48 kHz, the
  one format the outgoing track plays: exactly what aiortc's Opus encoder takes, so its own
  resampler passes frames through (converting there would hold every frame back 20 ms until
  the next one arrives), and a format that never changes mid-call (that resampler cannot).

Audio is never logged.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

__all__ = [
    "OUT_CHANNELS",
    "OUT_RATE",
    "PCM24K",
    "AudioFormat",
    "MicEncoder",
    "SpeakerDecoder",
    "audio_format",
    "pcm_frame",
]

OUT_RATE, OUT_CHANNELS = 48000, 2  # what the outgoing track plays: PCM16 stereo, Opus's own
_G711 = {"audio/pcmu": "pcm_mulaw", "audio/pcma": "pcm_alaw"}
_BETA = {"pcm16": "audio/pcm", "g711_ulaw": "audio/pcmu", "g711_alaw": "audio/pcma"}


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """A session audio format: `type` (`audio/pcm`, `audio/pcmu`, `audio/pcma`) and rate."""

    type: str
    rate: int

    @property
    def codec(self) -> str | None:
        """PyAV's G.711 codec name, or None for PCM16."""
        return _G711.get(self.type)


PCM24K = AudioFormat("audio/pcm", 24000)


def audio_format(value: Any) -> AudioFormat | None:
    """The format a session's `audio.*.format` names (GA object or beta string); None when it
    names none this bridge knows."""
    if isinstance(value, str):  # beta: pcm16, g711_ulaw, g711_alaw
        value = {"type": _BETA.get(value)}
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    if kind in _G711:
        return AudioFormat(kind, 8000)
    if kind == "audio/pcm":
        rate = value.get("rate")
        if isinstance(rate, int) and not isinstance(rate, bool) and 8000 <= rate <= 48000:
            return AudioFormat(kind, rate)
        return AudioFormat(kind, 24000)
    return None


def pcm_frame(pcm: bytes, rate: int, pts: int, channels: int = 1) -> av.AudioFrame:
    """An s16 frame holding `pcm` (interleaved, whole samples) at `rate`, stamped `pts`."""
    layout = "stereo" if channels == 2 else "mono"
    frame = av.AudioFrame(format="s16", layout=layout, samples=len(pcm) // (2 * channels))
    frame.planes[0].update(pcm)
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    return frame


def _pcm_of(frames: list[av.AudioFrame], channels: int = 1) -> bytes:
    """The samples of s16 packed frames (a plane's buffer may be padded past its samples)."""
    return b"".join(bytes(f.planes[0])[: f.samples * 2 * channels] for f in frames)


class MicEncoder:
    """Microphone frames in, `input_audio_buffer.append` events (UTF-8 JSON) out.

    Args:
        fmt: the session's input format.
        batch_ms: audio per append (the last partial batch waits for more).
    """

    def __init__(self, fmt: AudioFormat = PCM24K, *, batch_ms: int = 20) -> None:
        self.batch_ms = batch_ms
        self.fmt = fmt
        self._setup(fmt)

    def _setup(self, fmt: AudioFormat) -> None:
        self.fmt = fmt
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=fmt.rate)
        self._codec: Any = None
        if fmt.codec is not None:
            codec: Any = av.CodecContext.create(fmt.codec, "w")
            codec.sample_rate, codec.layout, codec.format = fmt.rate, "mono", "s16"
            self._codec = codec
        width = 1 if fmt.codec else 2
        self._batch = fmt.rate * self.batch_ms // 1000 * width
        # the resampler's output drifts a few samples around 20 ms per frame: a batch that is
        # a millisecond short goes now (else it waits a whole frame for its last samples)
        self._ready = self._batch - fmt.rate // 1000 * width
        self._pending = bytearray()
        self._pts = 0

    def set_format(self, fmt: AudioFormat) -> None:
        """The session's input format changed: audio from now on is converted to `fmt`
        (audio still pending in the old format is dropped: at most one batch)."""
        if fmt != self.fmt:
            self._setup(fmt)

    def feed(self, frame: av.AudioFrame) -> list[bytes]:
        """Convert one decoded frame; return the append events it completes (often none)."""
        pcm = _pcm_of(self._resampler.resample(frame))
        if self._codec is not None and pcm:
            samples = len(pcm) // 2
            packets = self._codec.encode(pcm_frame(pcm, self.fmt.rate, self._pts))
            self._pts += samples
            pcm = b"".join(bytes(p) for p in packets)
        self._pending += pcm
        events = []
        while len(self._pending) >= self._ready:
            take = min(len(self._pending), self._batch)
            chunk = bytes(self._pending[:take])
            del self._pending[:take]
            events.append(
                b'{"type":"input_audio_buffer.append","audio":"' + base64.b64encode(chunk) + b'"}'
            )
        return events


class SpeakerDecoder:
    """Upstream audio (a delta's bytes, in the session's output format) to PCM16 stereo
    48 kHz."""

    def __init__(self, fmt: AudioFormat = PCM24K) -> None:
        self.fmt = fmt
        self._setup(fmt)

    def _setup(self, fmt: AudioFormat) -> None:
        self.fmt = fmt
        self._codec: Any = None
        if fmt.codec is not None:
            codec: Any = av.CodecContext.create(fmt.codec, "r")
            codec.sample_rate, codec.layout = fmt.rate, "mono"
            self._codec = codec
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=OUT_RATE)
        self._pts = 0

    def set_format(self, fmt: AudioFormat) -> None:
        """The session's output format changed."""
        if fmt != self.fmt:
            self._setup(fmt)

    def decode(self, audio: bytes) -> bytes:
        """PCM16 stereo 48 kHz for `audio` (shorter or longer by the resampler's few samples
        of delay)."""
        if self._codec is not None:
            frames = self._codec.decode(av.Packet(audio))
        else:
            audio = audio[: len(audio) // 2 * 2]
            if not audio:
                return b""
            frames = [pcm_frame(audio, self.fmt.rate, self._pts)]
            self._pts += len(audio) // 2
        out = []
        for frame in frames:
            out.extend(self._resampler.resample(frame))
        return _pcm_of(out, OUT_CHANNELS)

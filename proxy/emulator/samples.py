"""Voice-clone sample checks of the emulated voices API (pure).

Each sample of a ``voices:clone`` request gets one ``audioSamplesValidated`` entry
``{langCode, warnings:[{text}], errors:[{text}], transcription, audioData}``
(docs/protocol-notes.md#inworld-voices-api). What Inworld checks exactly is not published; the
emulator checks what its guides state:
WAV or MP3 only, 5-15 s of audio recommended, 3 s the least ("from as little as 3 seconds"),
longer samples trimmed at 15 s. Unreadable or too-short audio is an *error* (the clone fails),
the rest are *warnings*.

The duration of a WAV comes from its header (``wave``); of an MP3 from its first frame header
(bit rate) and the file size, as for a constant bit rate: an emulator's estimate, on purpose
independent of the proxy's own reader.
"""

import base64
import binascii
import io
import wave
from dataclasses import dataclass
from typing import Any

__all__ = ["MIN_SECONDS", "RECOMMENDED_SECONDS", "SampleCheck", "check_sample", "duration_of"]

MIN_SECONDS = 3.0
RECOMMENDED_SECONDS = (5.0, 15.0)

# MPEG audio: bit rates (kbit/s) by (version is MPEG-1, layer) and index; sample rates by version.
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_BITRATES[(False, 3)] = _BITRATES[(False, 2)]


@dataclass(frozen=True, slots=True)
class SampleCheck:
    """The verdict on one sample: the entry for ``audioSamplesValidated``."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    def entry(self, lang_code: str, transcription: str, audio_data: str) -> dict[str, Any]:
        """The JSON entry Inworld answers for this sample."""
        return {
            "langCode": lang_code,
            "warnings": [{"text": t} for t in self.warnings],
            "errors": [{"text": t} for t in self.errors],
            "transcription": transcription,
            "audioData": audio_data,
        }


def _wav_seconds(data: bytes) -> float | None:
    try:
        with wave.open(io.BytesIO(data)) as wav:
            rate, frames = wav.getframerate(), wav.getnframes()
    except (wave.Error, EOFError):
        return None
    return frames / rate if rate else None


def _mp3_seconds(data: bytes) -> float | None:
    start = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # ID3v2 tag: 28-bit synch-safe size
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | data[9]
        start = 10 + size
    header = data[start : start + 4]
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    if version == 1 or layer_bits == 0:  # reserved values
        return None
    layer = 4 - layer_bits
    index = header[2] >> 4
    if index in (0, 15) or (header[2] >> 2) & 3 == 3:  # free format / bad index / bad rate
        return None
    kbps = _BITRATES[(version == 3, layer)][index]
    return (len(data) - start) * 8 / (kbps * 1000)


def duration_of(data: bytes) -> float | None:
    """Seconds of audio in a WAV or MP3 file's bytes, or None if it is neither."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav_seconds(data)
    return _mp3_seconds(data)


def check_sample(audio_data: str) -> SampleCheck:
    """Check one sample's base64 ``audioData`` (see the module docstring)."""
    try:
        data = base64.b64decode(audio_data, validate=True)
    except (binascii.Error, ValueError):
        return SampleCheck(("Invalid audioData: not base64.",), ())
    seconds = duration_of(data)
    if seconds is None:
        return SampleCheck(("Unsupported or unreadable audio: expected a WAV or MP3 file.",), ())
    low, high = RECOMMENDED_SECONDS
    if seconds < MIN_SECONDS:
        text = f"Audio is too short ({seconds:.1f} s): at least {MIN_SECONDS:g} seconds needed."
        return SampleCheck((text,), ())
    warnings: list[str] = []
    if seconds < low:
        warnings.append(
            f"Audio is shorter than {low:g} seconds ({seconds:.1f} s); "
            f"{low:g}-{high:g} seconds give a better clone."
        )
    if seconds > high:
        warnings.append(f"Audio is longer than {high:g} seconds; only the first {high:g} are used.")
    return SampleCheck((), tuple(warnings))

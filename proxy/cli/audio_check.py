"""Local checks of voice-clone samples before they are uploaded (`voices clone`).

Inworld takes WAV or MP3 samples of 5-15 s in total ("from as little as 3 seconds"), and its own
migration tool keeps each file under 4 MB (docs/protocol-notes.md#inworld-voices-api). Here:

- `inspect(path)` reads one file: WAV through the standard `wave` module (other WAV encodings,
  such as float, through their RIFF `fmt ` and `data` chunks), MP3 by walking its frame headers
  (MPEG-1/2/2.5, layers I-III; an ID3v2 tag is skipped), giving channels, sample rate and
  duration. Anything else, an unreadable file or one over 4 MB is an `AudioCheckError`;
- `check_total(infos)` judges the total duration: under 3 s is an error, 3-5 s a warning,
  over 15 s an error.
"""

from __future__ import annotations

import struct
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_BYTES",
    "MAX_SECONDS",
    "MIN_SECONDS",
    "RECOMMENDED_SECONDS",
    "AudioCheckError",
    "AudioInfo",
    "check_total",
    "inspect",
    "mp3_info",
]

MAX_BYTES = 4 * 1024 * 1024
MIN_SECONDS, RECOMMENDED_SECONDS, MAX_SECONDS = 3.0, 5.0, 15.0

_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_KBPS = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_KBPS[(False, 3)] = _KBPS[(False, 2)]
_SYNC_SCAN = 64 * 1024  # how far to look for the first frame after the tag


class AudioCheckError(ValueError):
    """A sample cannot be used; the message names the file and says why."""


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What one sample holds."""

    path: Path
    kind: str  # "WAV" or "MP3"
    channels: int
    sample_rate: int
    seconds: float
    size: int  # bytes

    def describe(self) -> str:
        """One line: ``voice.wav: WAV, mono, 24000 Hz, 6.0 s, 281 KB``."""
        layout = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels} channels")
        return (
            f"{self.path.name}: {self.kind}, {layout}, {self.sample_rate} Hz, "
            f"{self.seconds:.1f} s, {max(1, round(self.size / 1024))} KB"
        )


def _frame(header: bytes) -> tuple[int, int, int, int] | None:
    """(frame bytes, samples, sample rate, channels) of an MPEG audio frame header, or None."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    rate_index, kbps_index = (header[2] >> 2) & 3, header[2] >> 4
    if version == 1 or layer_bits == 0 or rate_index == 3 or kbps_index in (0, 15):
        return None  # reserved values, or free format (no frame length to walk by)
    mpeg1, layer = version == 3, 4 - layer_bits
    rate = _MP3_RATES[version][rate_index]
    bitrate = _KBPS[(mpeg1, layer)][kbps_index] * 1000
    padding = (header[2] >> 1) & 1
    if layer == 1:
        length, samples = (12 * bitrate // rate + padding) * 4, 384
    elif layer == 2 or mpeg1:
        length, samples = 144 * bitrate // rate + padding, 1152
    else:
        length, samples = 72 * bitrate // rate + padding, 576
    channels = 1 if header[3] >> 6 == 3 else 2
    return length, samples, rate, channels


def mp3_info(data: bytes) -> tuple[int, int, float] | None:
    """(channels, sample rate, seconds) of MP3 bytes, or None when no frame sequence is found.

    The first frame must be followed by a second valid one (or end the file), so a stray
    0xFF byte is not taken for a frame.
    """
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # ID3v2: 28-bit synch-safe size, maybe a footer
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | data[9]
        pos = 10 + size + (10 if data[5] & 0x10 else 0)
    first = None
    for start in range(pos, min(len(data), pos + _SYNC_SCAN)):
        head = _frame(data[start : start + 4])
        if head is not None:
            follow = start + head[0]
            if follow >= len(data) or _frame(data[follow : follow + 4]) is not None:
                first = start
                break
    if first is None:
        return None
    total, rate, channels, pos = 0, 0, 0, first
    while (head := _frame(data[pos : pos + 4])) is not None:
        length, samples, frame_rate, frame_channels = head
        if not rate:
            rate, channels = frame_rate, frame_channels
        total += samples
        pos += length
    return channels, rate, total / rate


def _riff_info(data: bytes) -> tuple[int, int, float] | None:
    """(channels, sample rate, seconds) from a RIFF/WAVE file's `fmt ` and `data` chunks."""
    pos, fmt, size = 12, None, None
    while pos + 8 <= len(data):
        chunk, length = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"fmt " and length >= 16:
            fmt = struct.unpack_from("<HHII", data, pos + 8)  # format, channels, rate, bytes/s
        elif chunk == b"data":
            size = min(length, len(data) - pos - 8)
        pos += 8 + length + (length & 1)
    if fmt is None or size is None or not fmt[2] or not fmt[3]:
        return None
    return fmt[1], fmt[2], size / fmt[3]


def _wav_info(path: Path, data: bytes) -> tuple[int, int, float] | None:
    try:
        with wave.open(str(path)) as wav:
            rate = wav.getframerate()
            return wav.getnchannels(), rate, wav.getnframes() / rate if rate else 0.0
    except (wave.Error, EOFError):
        return _riff_info(data)


def inspect(path: Path) -> AudioInfo:
    """Read and describe one sample.

    Raises:
        AudioCheckError: unreadable, over 4 MB, or neither a WAV nor an MP3 file.
    """
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise AudioCheckError(
                f"{path}: {size / 1024 / 1024:.1f} MB; Inworld takes at most 4 MB per sample"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise AudioCheckError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        kind, found = "WAV", _wav_info(path, data)
    else:
        kind, found = "MP3", mp3_info(data)
    if found is None:
        raise AudioCheckError(f"{path}: not a readable WAV or MP3 file")
    channels, rate, seconds = found
    return AudioInfo(path, kind, channels, rate, seconds, len(data))


def check_total(infos: Sequence[AudioInfo]) -> tuple[list[str], list[str]]:
    """(errors, warnings) for the samples' total duration (see the module docstring)."""
    total = sum(info.seconds for info in infos)
    if total < MIN_SECONDS:
        return [
            f"{total:.1f} s of audio in total; Inworld needs at least {MIN_SECONDS:g} s "
            f"({RECOMMENDED_SECONDS:g}-{MAX_SECONDS:g} s recommended)"
        ], []
    if total > MAX_SECONDS:
        return [
            f"{total:.1f} s of audio in total; Inworld uses at most {MAX_SECONDS:g} s: "
            "trim the samples"
        ], []
    if total < RECOMMENDED_SECONDS:
        return [], [
            f"{total:.1f} s of audio in total; Inworld recommends "
            f"{RECOMMENDED_SECONDS:g}-{MAX_SECONDS:g} s for a good clone"
        ]
    return [], []

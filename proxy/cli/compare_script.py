"""The conversation `compare` plays: user turns (audio or text), the barge-in clip, and the
`Plan` that holds them with how to play them.

Audio is PCM16 mono at 24 kHz, what every target is asked for. The built-in turns alternate
generated speech-like audio (voiced syllables: a glottal-pulse-like harmonic series with two
moving formants under a syllable envelope, loud enough for any server VAD) with short text
questions; `--audio FILE.wav` gives one user turn per file instead, at any sample rate and
channel count (mixed down to mono, resampled linearly to 24 kHz).
"""

from __future__ import annotations

import array
import math
import random
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "RATE",
    "Plan",
    "Turn",
    "barge_in_clip",
    "builtin_turns",
    "read_wav",
    "speechlike",
    "wav_turns",
]

RATE = 24_000  # samples per second of PCM16 sent and received
_QUESTIONS = (
    "What is a good name for a friendly robot?",
    "Tell me one fun fact about octopuses.",
    "How far away is the Moon, roughly?",
    "Suggest a quick breakfast idea.",
)


@dataclass(frozen=True)
class Plan:
    """The script and how to play it."""

    turns: list[Turn]
    barge_in: bytes = b""  # the interrupting clip (PCM16 24 kHz); empty: no barge-in
    barge_in_after_ms: int = 300
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class Turn:
    """One user turn: spoken (`pcm`, PCM16 mono 24 kHz) or typed (`text`)."""

    name: str
    pcm: bytes = b""
    text: str = ""

    @property
    def spoken(self) -> bool:
        """True for an audio turn."""
        return bool(self.pcm)


def speechlike(ms: int, seed: int = 0) -> bytes:
    """`ms` milliseconds of speech-like PCM16 (syllables of ~150-250 ms with short gaps)."""
    rng = random.Random(seed)
    total = RATE * ms // 1000
    out = array.array("h", bytes(2 * total))
    at = 0
    while at < total:
        length = min(total - at, RATE * rng.randint(150, 250) // 1000)
        f0 = rng.uniform(110, 190)
        formants = (rng.uniform(300, 800), rng.uniform(900, 2300))
        harmonics = [
            (k, sum(math.exp(-(((k * f0 - f) / 120) ** 2)) for f in formants) + 0.3 / k)
            for k in range(1, int(3000 / f0))
        ]
        scale = 14000 / sum(weight for _, weight in harmonics)
        for i in range(length):
            t = i / RATE
            envelope = math.sin(math.pi * i / length) ** 2
            pitch = 2 * math.pi * f0 * (1 + 0.05 * t) * t
            value = sum(weight * math.sin(k * pitch) for k, weight in harmonics)
            out[at + i] = int(max(-32767, min(32767, value * scale * envelope)))
        at += length + RATE * rng.randint(30, 70) // 1000  # a short gap between syllables
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def builtin_turns(count: int) -> list[Turn]:
    """`count` turns alternating speech-like audio (odd turns) and text questions (even)."""
    turns = []
    for n in range(count):
        if n % 2 == 0:
            turns.append(Turn(f"audio {n // 2 + 1}", pcm=speechlike(900 + 150 * (n % 3), seed=n)))
        else:
            turns.append(Turn(f"text {n // 2 + 1}", text=_QUESTIONS[(n // 2) % len(_QUESTIONS)]))
    return turns


def barge_in_clip() -> bytes:
    """What the user says to interrupt a reply (800 ms of speech-like audio)."""
    return speechlike(800, seed=99)


def wav_turns(paths: list[Path], count: int | None) -> list[Turn]:
    """One audio turn per WAV file, in order; `count` cycles or cuts the list to that many.

    Raises:
        ValueError: a file is not a PCM WAV file (the message names it).
    """
    clips = [Turn(path.name, pcm=read_wav(path)) for path in paths]
    if count is None:
        return clips
    return [clips[n % len(clips)] for n in range(count)]


def read_wav(path: Path) -> bytes:
    """A PCM WAV file as PCM16 mono 24 kHz.

    Raises:
        ValueError: not a readable PCM WAV file (8, 16, 24 or 32 bits per sample).
    """
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise ValueError(f"{path}: not a readable PCM WAV file ({exc})") from None
    if width not in (1, 2, 3, 4) or channels < 1 or rate < 1:
        raise ValueError(f"{path}: unsupported WAV format ({8 * width} bits, {channels} ch)")
    samples = _to_floats(frames, width)
    mono = [sum(samples[i : i + channels]) / channels for i in range(0, len(samples), channels)]
    resampled = _resample(mono, rate, RATE)
    out = array.array("h", (int(max(-32767, min(32767, v * 32767))) for v in resampled))
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def _to_floats(frames: bytes, width: int) -> list[float]:
    """Little-endian PCM samples (8-bit unsigned, else signed) as floats in [-1, 1]."""
    if width == 1:
        return [(b - 128) / 128 for b in frames]
    scale = float(1 << (8 * width - 1))
    return [
        int.from_bytes(frames[i : i + width], "little", signed=True) / scale
        for i in range(0, len(frames) - width + 1, width)
    ]


def _resample(samples: list[float], rate: int, target: int) -> list[float]:
    """Linear interpolation from `rate` to `target` samples per second."""
    if rate == target or not samples:
        return samples
    count = max(1, round(len(samples) * target / rate))
    step = rate / target
    last = len(samples) - 1
    out = []
    for n in range(count):
        pos = n * step
        i = min(int(pos), last)
        frac = pos - i
        nxt = samples[min(i + 1, last)]
        out.append(samples[i] * (1 - frac) + nxt * frac)
    return out

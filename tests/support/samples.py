"""Voice samples for the voices tests: WAV files written with `wave`, MP3 frame sequences."""

from __future__ import annotations

import io
import math
import struct
import wave


def wav_bytes(seconds: float, *, rate: int = 24000, channels: int = 1) -> bytes:
    """A PCM16 WAV file holding a 220 Hz tone of `seconds`."""
    frames = int(seconds * rate)
    one = [int(8000 * math.sin(2 * math.pi * 220 * i / rate)) for i in range(rate // 220)]
    samples = (one * (frames // len(one) + 1))[:frames]
    pcm = struct.pack(f"<{frames * channels}h", *(s for s in samples for _ in range(channels)))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


def mp3_bytes(seconds: float, *, id3: bool = True, mono: bool = False) -> bytes:
    """An MPEG-1 Layer III stream at 128 kbit/s, 44.1 kHz: valid frame headers (their audio
    payload is silence-shaped zero bytes), optionally behind an ID3v2 tag, with a trailing
    ID3v1 tag. 1152 samples per frame."""
    frames = math.ceil(seconds * 44100 / 1152)
    channel_mode = 0xC0 if mono else 0x00
    body = bytearray()
    for i in range(frames):
        padding = i % 2  # 417 or 418 bytes: 144 * 128000 / 44100 = 417.96
        header = bytes([0xFF, 0xFB, 0x90 | (padding << 1), channel_mode | 0x04])
        length = 144 * 128000 // 44100 + padding
        body += header + bytes(length - 4)
    tag = b""
    if id3:
        payload = b"TIT2\x00\x00\x00\x06\x00\x00\x03test\x00"
        size = len(payload)
        synchsafe = bytes(
            [(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F]
        )
        tag = b"ID3\x04\x00\x00" + synchsafe + payload
    return tag + bytes(body) + b"TAG" + bytes(125)

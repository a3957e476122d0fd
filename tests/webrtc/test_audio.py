"""proxy.webrtc.audio: microphone frames to append batches, upstream audio to 24 kHz PCM."""

from __future__ import annotations

import base64
import math
import struct

import av
import orjson
import pytest

from proxy.webrtc.audio import PCM24K, AudioFormat, MicEncoder, SpeakerDecoder, audio_format


def opus_like_frame(pts: int, hz: float = 440.0) -> av.AudioFrame:
    """What aiortc's Opus decoder hands out: s16 stereo 48 kHz, 960 samples (20 ms)."""
    samples = [int(8000 * math.sin(2 * math.pi * hz * (pts + i) / 48000)) for i in range(960)]
    frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
    frame.planes[0].update(struct.pack(f"<{1920}h", *[s for s in samples for _ in (0, 1)]))
    frame.sample_rate, frame.pts = 48000, pts
    return frame


@pytest.mark.parametrize("batch_ms", [20, 40])
def test_mic_batches_go_without_waiting(batch_ms: int) -> None:
    """1 s of microphone audio becomes appends of `batch_ms` PCM16 24 kHz (within 1 ms), each
    sent by the frame that completes it, and none is lost."""
    mic = MicEncoder(batch_ms=batch_ms)
    sizes = []
    for i in range(50):
        appends = mic.feed(opus_like_frame(i * 960))
        if batch_ms == 20:
            assert len(appends) == (1 if i else len(appends))  # one per frame, no waiting
        for append in appends:
            event = orjson.loads(append)
            assert event["type"] == "input_audio_buffer.append"
            sizes.append(len(base64.b64decode(event["audio"])))
    batch = 48 * batch_ms
    assert all(batch - 48 <= size <= batch for size in sizes[1:])
    assert 48000 - 2 * batch <= sum(sizes) <= 48000


def test_mic_in_g711() -> None:
    mic = MicEncoder(AudioFormat("audio/pcmu", 8000), batch_ms=40)
    appends = [e for i in range(10) for e in mic.feed(opus_like_frame(i * 960))]
    assert appends
    assert all(len(base64.b64decode(orjson.loads(a)["audio"])) == 320 for a in appends)


def test_speaker_plays_48k_stereo_from_every_format() -> None:
    """Whatever the session's format, the track gets PCM16 stereo 48 kHz (what aiortc's Opus
    encoder takes without re-chunking): 100 ms in, about 100 ms out."""
    second = 48000 * 2 * 2
    for fmt, chunk in (
        (PCM24K, struct.pack("<480h", *range(480))),
        (AudioFormat("audio/pcmu", 8000), b"\xff" * 160),
        (AudioFormat("audio/pcm", 16000), bytes(640)),
    ):
        speaker = SpeakerDecoder(fmt)
        out = b"".join(speaker.decode(chunk) for _ in range(5))
        assert second // 10 - second // 50 <= len(out) <= second // 10, fmt
        assert len(out) % 4 == 0  # whole stereo samples
    assert SpeakerDecoder().decode(b"") == b""


def test_formats_from_sessions() -> None:
    assert audio_format({"type": "audio/pcm", "rate": 24000}) == PCM24K
    assert audio_format({"type": "audio/pcm"}) == PCM24K
    assert audio_format({"type": "audio/pcmu"}) == AudioFormat("audio/pcmu", 8000)
    assert audio_format("g711_alaw") == AudioFormat("audio/pcma", 8000)
    assert audio_format({"type": "audio/opus"}) is None
    assert audio_format(None) is None

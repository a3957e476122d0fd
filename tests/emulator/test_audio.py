"""Reply synthesis and the energy VAD, on synthetic PCM16 24 kHz audio."""

import base64

import pytest

from proxy.emulator import EnergyVad, pcm16_silence, pcm16_tone
from proxy.emulator.audio import reply_audio_ms, synthesize_reply


def test_synthesis_is_deterministic_and_sized() -> None:
    """Same text, same chunks; total length is 60 ms per character, chunked at 100 ms."""
    chunks = synthesize_reply("hello", chunk_ms=100, ms_per_char=60, max_ms=10_000)
    assert chunks == synthesize_reply("hello", chunk_ms=100, ms_per_char=60, max_ms=10_000)
    sizes = [len(base64.b64decode(c)) for c in chunks]
    assert sizes == [4800, 4800, 4800]  # 300 ms = 100 + 100 + 100 ms of PCM16 at 24 kHz
    assert any(base64.b64decode(chunks[0]))  # not silence


def test_reply_length_is_capped() -> None:
    """Long replies are capped at max_ms; empty text still yields one 20 ms window."""
    assert reply_audio_ms("x" * 1000, ms_per_char=60, max_ms=2000) == 2000
    assert reply_audio_ms("", ms_per_char=60, max_ms=2000) == 20


def test_tone_phase_continues_across_offsets() -> None:
    """A tone split at an offset equals the tone generated in one piece."""
    assert pcm16_tone(30) + pcm16_tone(50, offset_ms=30) == pcm16_tone(80)


def test_tone_rejects_bad_arguments() -> None:
    """Negative durations and out-of-range amplitudes raise ValueError."""
    with pytest.raises(ValueError, match="amplitude"):
        pcm16_tone(10, amplitude=40_000)


def test_vad_detects_speech_across_odd_chunk_boundaries() -> None:
    """Speech split into odd-sized pieces still starts at 0 ms and ends at 200 ms."""
    vad = EnergyVad(threshold=500)
    pcm = pcm16_silence(100) + pcm16_tone(200) + pcm16_silence(600)
    events = []
    for start in range(0, len(pcm), 333):
        events += vad.feed(pcm[start : start + 333], silence_ms=500)
    assert [(e.kind, e.ms) for e in events] == [("speech_started", 100), ("speech_stopped", 300)]
    assert not vad.in_speech
    assert vad.position_ms == 900


def test_vad_ignores_short_blips_and_quiet_audio() -> None:
    """A 40 ms blip (< 60 ms) and a quiet tone below threshold never start speech."""
    vad = EnergyVad(threshold=500)
    blip = pcm16_tone(40) + pcm16_silence(200)
    quiet = pcm16_tone(500, amplitude=300)
    assert vad.feed(blip + quiet, silence_ms=500) == []

"""The proxy's browser demo page (GET /) does a spoken turn in headless Chromium."""

from __future__ import annotations

import wave
from pathlib import Path

from proxy.emulator import pcm16_silence, pcm16_tone
from tests.support.clients import require_chromium, run_node
from tests.support.stack import Stack


def speech_wav(path: Path) -> Path:
    """A fake microphone: 1 s of loud tone then 1.5 s of silence (Chromium loops it)."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24000)
        wav.writeframes(pcm16_tone(1000) + pcm16_silence(1500))
    return path


async def test_demo_page_spoken_turn(stack: Stack, tmp_path: Path) -> None:
    """Start -> token minted -> mic streamed -> VAD turn -> reply audio played."""
    chromium = require_chromium()
    page = str(stack.proxy.make_url("/"))
    demo = await run_node("demo_page.mjs", page, str(speech_wav(tmp_path / "mic.wav")), chromium)
    assert demo["protocol"] == "realtime"
    assert demo["events"][0] == "session.created"
    assert "input_audio_buffer.speech_started" in demo["events"]
    assert "Hello from the emulator." in demo["userTranscripts"]
    assert demo["audioDeltas"] > 0
    assert demo["transcript"].startswith("You said:")
    record = stack.only_session()
    assert record.session_config["audio"]["output"]["voice"] == "Sarah"  # the page's marin
    assert record.client_event_types.count("input_audio_buffer.append") > 5

"""What the emulated service accepts: LLM, STT, TTS and voice ids
(docs/protocol-notes.md#inworld-model-ids)."""

import pytest

from proxy.emulator import is_known_stt, is_known_tts, is_known_voice, is_routable_llm


@pytest.mark.parametrize(
    ("model", "ok"),
    [
        ("openai/gpt-5.5", True),
        ("openai/gpt-4.1-mini", True),
        ("google-ai-studio/gemini-2.5-flash", True),
        ("groq/gpt-oss-120b", True),
        ("inworld/auto", True),
        ("claude-sonnet-4-6", True),
        ("gpt-realtime", False),
        ("gpt-4o-realtime-preview", False),
        ("gpt-realtime-mini", False),
        ("openai/", False),
        ("/gpt-4o", False),
        ("azure/gpt-4o", False),
        ("", False),
    ],
)
def test_llm_routing_rules(model: str, ok: bool) -> None:
    """provider/model needs a known provider; bare ids must be in the known list."""
    assert is_routable_llm(model) is ok


def test_extra_providers_extend_routing() -> None:
    """extra_providers admits an otherwise unknown provider prefix."""
    assert not is_routable_llm("mistral/large")
    assert is_routable_llm("mistral/large", extra_providers=("mistral",))


def test_stt_and_tts_ids_are_exact() -> None:
    """STT/TTS ids are exact documented ids; OpenAI ones are not."""
    assert is_known_stt("inworld/inworld-stt-1")
    assert is_known_stt("assemblyai/u3-rt-pro")
    assert not is_known_stt("whisper-1")
    assert not is_known_stt("gpt-4o-mini-transcribe")
    assert is_known_tts("inworld-tts-2")
    assert not is_known_tts("gpt-4o-mini-tts")


@pytest.mark.parametrize(
    ("voice", "ok"),
    [
        ("Ashley", True),
        ("Dennis", True),
        ("Jason", True),
        ("ws__myvoice", True),
        ("my-workspace__clone_1700000000", True),
        ("ashley", False),
        ("marin", False),
        ("alloy", False),
        ("__nameonly", False),
        ("ws__", False),
    ],
)
def test_voice_rules(voice: str, ok: bool) -> None:
    """System voices are case-sensitive; custom voices are <workspace>__<name>."""
    assert is_known_voice(voice) is ok


def test_extra_voices() -> None:
    """extra_voices admits additional ids verbatim."""
    assert is_known_voice("Narrator", extra_voices=("Narrator",))

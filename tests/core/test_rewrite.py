"""proxy.core.rewrite: OpenAI session fields become Inworld ones, driven by config data."""

import dataclasses
from typing import Any

import pytest

from proxy.core.rewrite import (
    ClientNames,
    SessionFieldError,
    initial_session,
    map_model,
    map_stt,
    map_voice,
    rewrite_response,
    rewrite_session,
    show_client_names,
    transcription_session,
)
from tests.support.core import config

RULES = config().rules


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-realtime", "openai/gpt-5.5"),
        ("gpt-realtime-mini", "openai/gpt-5.4-mini"),
        ("gpt-some-future-model", "openai/gpt-5.5"),
        ("anthropic/claude-sonnet-4-6", "anthropic/claude-sonnet-4-6"),
        (None, "openai/gpt-5.5"),
        ("", "openai/gpt-5.5"),
    ],
)
def test_map_model(name: str | None, expected: str) -> None:
    """OpenAI model names map; provider/model ids pass; none means the fallback."""
    assert map_model(RULES, name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("whisper-1", "inworld/inworld-stt-1"),
        ("gpt-4o-mini-transcribe", "inworld/inworld-stt-1"),
        ("assemblyai/u3-rt-pro", "assemblyai/u3-rt-pro"),
        ("something-else", "inworld/inworld-stt-1"),
    ],
)
def test_map_stt(name: str, expected: str) -> None:
    """OpenAI STT names map to the configured Inworld STT; Inworld ids pass."""
    assert map_stt(RULES, name) == expected


@pytest.mark.parametrize(
    ("voice", "expected"),
    [
        ("marin", ("Sarah", "marin")),
        ("alloy", ("Ashley", "alloy")),
        ("Dennis", ("Dennis", "Dennis")),
        ("ws__my_clone_123", ("ws__my_clone_123", "ws__my_clone_123")),
        ({"id": "cedar"}, ("Theodore", "cedar")),
        ({"id": "voice_abc"}, ("voice_abc", "voice_abc")),
    ],
)
def test_map_voice(voice: Any, expected: tuple[str, str]) -> None:
    """Every OpenAI voice maps; other strings and voice objects pass through."""
    assert map_voice(RULES, voice, "p") == expected


@pytest.mark.parametrize("voice", [None, 3, "", {"name": "x"}, {"id": 5}])
def test_map_voice_rejects_bad_shapes(voice: Any) -> None:
    """A voice that is neither a string nor an {id} object is a client error naming the param."""
    with pytest.raises(SessionFieldError) as info:
        map_voice(RULES, voice, "session.audio.output.voice")
    assert info.value.param == "session.audio.output.voice"


def test_every_openai_voice_is_mapped() -> None:
    """The default voice table covers all ten OpenAI voices."""
    voices = {"alloy", "ash", "ballad", "cedar", "coral", "echo", "marin", "sage", "shimmer"}
    assert voices | {"verse"} == set(RULES.voice_map)


def test_initial_session_sets_model_stt_tts_and_voice() -> None:
    """The proxy's first update carries the mapped LLM, STT, TTS model and default voice, and
    OpenAI's default output modalities (Inworld's own default is ["audio", "text"])."""
    session, names = initial_session(RULES, "gpt-realtime")
    assert session == {
        "type": "realtime",
        "model": "openai/gpt-5.5",
        "output_modalities": ["audio"],
        "audio": {
            "output": {"model": "inworld-tts-2", "voice": "Ashley"},
            "input": {"transcription": {"model": "inworld/inworld-stt-1"}},
        },
    }
    assert (names.model, names.voice) == ("gpt-realtime", "alloy")


def test_initial_session_without_forced_transcription() -> None:
    """With transcription.enable_when_absent off, the first update sets no STT."""
    rules = dataclasses.replace(config().rules, transcription_when_absent=False)
    session, _ = initial_session(rules, None)
    assert "input" not in session["audio"]
    assert session["model"] == "openai/gpt-5.5"


def test_rewrite_session_full_ga_update() -> None:
    """A full GA session.update is rewritten field by field; unknown fields are kept."""
    names = ClientNames()
    src = {
        "type": "realtime",
        "model": "gpt-realtime",
        "instructions": "Be brief.",
        "tracing": "auto",
        "x_unknown": {"kept": True},
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": {"type": "server_vad"},
            },
            "output": {"voice": "marin", "speed": 1.1},
        },
    }
    out = rewrite_session(RULES, src, names)
    assert out == {
        "type": "realtime",
        "model": "openai/gpt-5.5",
        "instructions": "Be brief.",
        "x_unknown": {"kept": True},
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "inworld/inworld-stt-1", "language": "en"},
                "turn_detection": {"type": "server_vad"},
            },
            "output": {"voice": "Sarah", "speed": 1.1},
        },
    }
    assert src["audio"]["output"]["voice"] == "marin", "input must not be mutated"
    assert (names.model, names.voice, names.stt) == ("gpt-realtime", "marin", "whisper-1")


def test_rewrite_session_transcription_null_is_replaced_when_configured() -> None:
    """transcription: null turns into the fallback STT when enable_when_absent is on."""
    out = rewrite_session(RULES, {"audio": {"input": {"transcription": None}}}, ClientNames())
    assert out["audio"]["input"]["transcription"] == {"model": "inworld/inworld-stt-1"}


def test_rewrite_session_is_idempotent_on_inworld_values() -> None:
    """Mapping applies once: rewriting an already-rewritten session changes nothing."""
    src = {"model": "gpt-realtime", "audio": {"output": {"voice": "marin"}}}
    once = rewrite_session(RULES, src, ClientNames())
    assert rewrite_session(RULES, once, ClientNames()) == once


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ("nope", "session"),
        ({"model": 5}, "session.model"),
        ({"audio": []}, "session.audio"),
        ({"audio": {"input": 3}}, "session.audio.input"),
        ({"audio": {"input": {"transcription": "x"}}}, "session.audio.input.transcription"),
        ({"audio": {"output": {"voice": 7}}}, "session.audio.output.voice"),
    ],
)
def test_rewrite_session_wrong_types(session: Any, param: str) -> None:
    """Wrong-typed fields raise SessionFieldError naming the OpenAI param path."""
    with pytest.raises(SessionFieldError) as info:
        rewrite_session(RULES, session, ClientNames())
    assert info.value.param == param


def test_rewrite_response_maps_voice_only_when_present() -> None:
    """response.create keeps its shape; only a per-response voice is mapped."""
    assert rewrite_response(RULES, None) is None
    assert rewrite_response(RULES, {"instructions": "hi"}) is None
    out = rewrite_response(RULES, {"audio": {"output": {"voice": "echo", "format": "x"}}})
    assert out == {"audio": {"output": {"voice": "Dennis", "format": "x"}}}


def test_show_client_names() -> None:
    """Inworld's ids in a session object are replaced by the names the client used."""
    names = ClientNames(model="gpt-realtime", voice="marin", stt="whisper-1")
    session = {
        "model": "openai/gpt-5.5",
        "audio": {
            "input": {"transcription": {"model": "inworld/inworld-stt-1"}},
            "output": {"voice": "Sarah", "model": "inworld-tts-2"},
        },
    }
    shown = show_client_names(session, names)
    assert shown["model"] == "gpt-realtime"
    assert shown["audio"]["output"] == {"voice": "marin", "model": "inworld-tts-2"}
    assert shown["audio"]["input"]["transcription"]["model"] == "whisper-1"
    assert session["model"] == "openai/gpt-5.5", "input must not be mutated"


def test_transcription_session_never_answers() -> None:
    """A transcription session becomes a text-only realtime session with no responses."""
    src = {
        "type": "transcription",
        "include": ["item.input_audio_transcription.logprobs"],
        "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
    }
    out = transcription_session(src)
    assert out == {
        "type": "realtime",
        "output_modalities": ["text"],
        "audio": {
            "input": {
                "transcription": {"model": "gpt-4o-transcribe"},
                "turn_detection": {
                    "type": "server_vad",
                    "create_response": False,
                    "interrupt_response": False,
                },
            }
        },
    }
    manual = transcription_session(
        {"type": "transcription", "audio": {"input": {"turn_detection": None}}}
    )
    assert manual["audio"]["input"]["turn_detection"] is None

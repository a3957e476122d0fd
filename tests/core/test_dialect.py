"""proxy.core.dialect: beta <-> GA mapping tables, both ways."""

from typing import Any

import pytest

from proxy.core.dialect import (
    beta_fast_rename,
    client_event_to_ga,
    detect_dialect,
    server_event_to_beta,
    session_to_beta,
    session_to_ga,
)


@pytest.mark.parametrize(
    ("header", "protocols", "expected"),
    [
        ("realtime=v1", [], "beta"),
        ("realtime = v1", [], "beta"),
        (None, ["realtime", "openai-beta.realtime-v1"], "beta"),
        (None, ["realtime"], "ga"),
        ("assistants=v2", [], "ga"),
        (None, [], "ga"),
    ],
)
def test_detect_dialect(header: str | None, protocols: list[str], expected: str) -> None:
    """Beta by header or sub-protocol; GA otherwise."""
    assert detect_dialect(header, protocols) == expected


BETA_SESSION = {
    "modalities": ["text", "audio"],
    "instructions": "Be brief.",
    "voice": "verse",
    "speed": 1.2,
    "input_audio_format": "pcm16",
    "output_audio_format": "g711_ulaw",
    "input_audio_transcription": {"model": "whisper-1"},
    "input_audio_noise_reduction": {"type": "near_field"},
    "turn_detection": {"type": "server_vad", "silence_duration_ms": 400},
    "tools": [],
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_response_output_tokens": 4096,
}
GA_SESSION = {
    "type": "realtime",
    "output_modalities": ["audio"],
    "instructions": "Be brief.",
    "tools": [],
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_output_tokens": 4096,
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "whisper-1"},
            "noise_reduction": {"type": "near_field"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 400},
        },
        "output": {"voice": "verse", "speed": 1.2, "format": {"type": "audio/pcmu"}},
    },
}


def test_session_to_ga() -> None:
    """Every flat beta field lands at its GA place (temperature kept: Inworld takes it)."""
    assert session_to_ga(BETA_SESSION) == GA_SESSION


def test_session_round_trip() -> None:
    """GA -> beta gives back the beta session."""
    assert session_to_beta(GA_SESSION) == BETA_SESSION


@pytest.mark.parametrize(
    ("beta", "ga"),
    [
        (["text"], ["text"]),
        (["audio"], ["audio"]),
        (["text", "audio"], ["audio"]),
    ],
)
def test_modalities(beta: list[str], ga: list[str]) -> None:
    """Beta text+audio means GA audio (which always carries its transcript)."""
    assert session_to_ga({"modalities": beta})["output_modalities"] == ga


def test_transcription_session_update() -> None:
    """transcription_session.update becomes a GA session.update of type transcription."""
    event = {
        "type": "transcription_session.update",
        "session": {"input_audio_transcription": {"model": "gpt-4o-transcribe"}},
    }
    assert client_event_to_ga(event) == {
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
        },
    }


def test_response_create_to_ga() -> None:
    """Beta response fields are nested the GA way."""
    event = {
        "type": "response.create",
        "response": {
            "modalities": ["text"],
            "voice": "echo",
            "output_audio_format": "pcm16",
            "max_response_output_tokens": 10,
            "metadata": {"k": "v"},
        },
    }
    assert client_event_to_ga(event)["response"] == {
        "output_modalities": ["text"],
        "audio": {"output": {"voice": "echo", "format": {"type": "audio/pcm", "rate": 24000}}},
        "max_output_tokens": 10,
        "metadata": {"k": "v"},
    }


def test_assistant_item_content_to_ga() -> None:
    """Assistant content text/audio becomes output_text/output_audio going up."""
    item = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "hi"}]}
    event = client_event_to_ga({"type": "conversation.item.create", "item": item})
    assert event["item"]["content"] == [{"type": "output_text", "text": "hi"}]
    user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}
    assert client_event_to_ga({"type": "conversation.item.create", "item": user})["item"] == user


@pytest.mark.parametrize(
    ("ga", "beta"),
    [
        ("response.output_audio.delta", "response.audio.delta"),
        ("response.output_audio.done", "response.audio.done"),
        ("response.output_audio_transcript.delta", "response.audio_transcript.delta"),
        ("response.output_audio_transcript.done", "response.audio_transcript.done"),
        ("response.output_text.delta", "response.text.delta"),
        ("response.output_text.done", "response.text.done"),
        ("conversation.item.added", "conversation.item.created"),
        ("input_audio_buffer.committed", "input_audio_buffer.committed"),
    ],
)
def test_server_event_names(ga: str, beta: str) -> None:
    """GA names become beta names."""
    out = server_event_to_beta({"type": ga})
    assert out is not None
    assert out["type"] == beta


def test_item_done_is_dropped_for_beta() -> None:
    """Beta has one conversation.item.created; the GA .done twin is not sent."""
    assert server_event_to_beta({"type": "conversation.item.done", "item": {}}) is None


def test_server_content_types_and_response_to_beta() -> None:
    """Parts, items and response objects take beta shapes."""
    part = server_event_to_beta(
        {"type": "response.content_part.added", "part": {"type": "output_audio"}}
    )
    assert part == {"type": "response.content_part.added", "part": {"type": "audio"}}
    response: dict[str, Any] = {
        "id": "r1",
        "output_modalities": ["audio"],
        "audio": {"output": {"voice": "marin", "format": {"type": "audio/pcm", "rate": 24000}}},
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "x"}]}],
    }
    out = server_event_to_beta({"type": "response.done", "response": response})
    assert out is not None
    assert out["response"] == {
        "id": "r1",
        "modalities": ["text", "audio"],
        "voice": "marin",
        "output_audio_format": "pcm16",
        "output": [{"type": "message", "content": [{"type": "text", "text": "x"}]}],
    }


def test_transcription_session_events_to_beta() -> None:
    """A GA transcription session is shown as transcription_session.updated."""
    out = server_event_to_beta({"type": "session.updated", "session": {"type": "transcription"}})
    assert out is not None
    assert out["type"] == "transcription_session.updated"


def test_fast_rename() -> None:
    """Audio deltas are renamed in the raw text, payload untouched."""
    text = '{"type":"response.output_audio.delta","delta":"response.output_audio.delta"}'
    renamed = beta_fast_rename("response.output_audio.delta", text)
    assert renamed == '{"type":"response.audio.delta","delta":"response.output_audio.delta"}'
    assert beta_fast_rename("x", '{"type":"x"}') == '{"type":"x"}'

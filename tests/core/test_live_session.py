"""`session.start` -> the proxy's first Inworld `session.update`, and the resource shown back."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from openai.types.live.session_resource import SessionResource

from proxy.core.live_session import (
    DELEGATE_TOOL,
    LiveRefusal,
    inworld_session,
    live_param,
    parse_start,
    resource,
)
from tests.support.core import config
from tests.support.live import WEATHER

RULES = config({}).rules


def start(**session: Any) -> Any:
    return parse_start({"model": "gpt-live-1.1", **session}, client_delegation=True)


def test_defaults_map_through_the_realtime_rules() -> None:
    """The Live model through [models.map], Live's default voice marin through [voices.map],
    Live's transcriber through [transcription.map], the TTS model, server-driven turns."""
    parsed, problems = start()
    session, names = inworld_session(RULES, parsed)
    assert problems == []
    assert session["model"] == RULES.model_map["gpt-live-1.1"]
    assert session["audio"]["output"]["voice"] == RULES.voice_map["marin"]
    assert session["audio"]["output"]["model"] == RULES.tts_model
    assert (
        session["audio"]["input"]["transcription"]["model"] == RULES.stt_map["gpt-live-transcribe"]
    )
    turns = session["audio"]["input"]["turn_detection"]
    assert turns["create_response"] is True
    assert turns["interrupt_response"] is True
    fmt = {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["input"]["format"] == session["audio"]["output"]["format"] == fmt
    assert session["output_modalities"] == ["audio"]
    assert names.model == "gpt-live-1.1"
    assert names.voice == "marin"
    assert [t["name"] for t in session["tools"]] == [DELEGATE_TOOL["name"]]


def test_unknown_model_takes_the_fallback_and_a_route_rule_wins() -> None:
    parsed, _ = start(model="gpt-live-9")
    assert inworld_session(RULES, parsed)[0]["model"] == RULES.model_fallback
    routed = dataclasses.replace(RULES, model_map={**RULES.model_map, "gpt-live-9": "x/y"})
    assert inworld_session(routed, parsed)[0]["model"] == "x/y"


def test_responses_delegation_gives_function_tools_and_both_prompts() -> None:
    """Function tools become Inworld tools (strict dropped); hosted tools are left out with a
    problem each; frontend and backend instructions are joined; no hidden tool."""
    strict = {**WEATHER, "strict": True}
    responses = {
        "model": "gpt-5.4",
        "instructions": "Backend rules.",
        "tools": [strict, {"type": "web_search"}],
        "tool_choice": "required",
        "max_output_tokens": 300,
        "reasoning": {"effort": "low"},
    }
    parsed, problems = start(
        instructions="Speak warmly.", delegation={"type": "responses", "responses": responses}
    )
    session, _ = inworld_session(RULES, parsed)
    assert session["tools"] == [{k: v for k, v in WEATHER.items()}]
    assert session["tool_choice"] == "required"
    assert session["max_output_tokens"] == 300
    assert session["instructions"] == "Speak warmly.\n\nBackend rules."
    assert [p.param for p in problems] == ["session.delegation.responses.tools[1]"]
    shown = resource(parsed, "live_1", 10)
    assert [t["name"] for t in shown["delegation"]["responses"]["tools"]] == ["get_weather"]
    SessionResource.model_validate(shown)  # the resource is what the SDK expects


def test_client_delegation_without_the_hidden_tool() -> None:
    parsed, _ = parse_start({"model": "gpt-live-1"}, client_delegation=False)
    assert "tools" not in inworld_session(RULES, parsed)[0]


def test_history_becomes_items() -> None:
    history = [
        {"role": "developer", "content": [{"type": "input_text", "text": "Rules."}]},
        {"role": "user", "content": [{"text": "Hi"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
    ]
    parsed, _ = start(input=history)
    assert [(i["role"], i["content"][0]["type"]) for i in parsed.items] == [
        ("system", "input_text"),
        ("user", "input_text"),
        ("assistant", "output_text"),
    ]
    assert parsed.items[2]["content"][0]["text"] == "Hello!"


@pytest.mark.parametrize(
    ("session", "param", "code"),
    [
        ({"model": ""}, "session.model", "missing_model"),
        (
            {"delegation": {"type": "decisions", "decisions": {"model": "m", "questions": []}}},
            "session.delegation.type",
            "unsupported_feature",
        ),
        ({"delegation": {"type": "responses"}}, "session.delegation", "invalid_value"),
        (
            {"audio": {"format": {"type": "audio/pcm", "rate": 44100}}},
            "session.audio.format",
            "invalid_value",
        ),
        ({"audio": {"output": {"voice": 3}}}, "session.audio.output.voice", "invalid_value"),
        ({"input": [{"role": "tool", "content": []}]}, "session.input[0]", "invalid_value"),
    ],
)
def test_refusals_name_the_field(session: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(LiveRefusal) as info:
        start(**session)
    assert (info.value.param, info.value.code) == (param, code)


def test_features_left_out_are_reported() -> None:
    trigger = {"type": "decisions", "event_type": "session.input_transcript.delta"}
    parsed, problems = start(store=True, triggers=[trigger])
    assert {p.param for p in problems} == {"session.store", "session.triggers"}
    assert resource(parsed, "live_1", 1)["store"] is False


def test_g711_and_custom_voices() -> None:
    parsed, _ = start(audio={"format": {"type": "audio/pcmu"}, "output": {"voice": {"id": "v1"}}})
    session, _ = inworld_session(RULES, parsed)
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu", "rate": 8000}
    assert session["audio"]["output"]["voice"] == "v1"
    SessionResource.model_validate(resource(parsed, "live_1", 1))


@pytest.mark.parametrize(
    ("inworld", "live"),
    [
        ("session.audio.output.voice", "session.audio.output.voice"),
        ("session.audio.input.format.rate", "session.audio.format"),
        ("session.model", "session.model"),
        ("session.tools[0].name", "session.delegation.responses.tools[0].name"),
        ("session.audio.input.transcription.model", None),
        (None, None),
    ],
)
def test_inworld_params_map_back_to_live_fields(inworld: Any, live: str | None) -> None:
    assert live_param(inworld) == live

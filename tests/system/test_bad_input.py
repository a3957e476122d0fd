"""Bad client input: an OpenAI-shaped error with the offending event_id; the session goes on."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.core.commands import FORWARD
from proxy.core.translate import Translator
from proxy.core.validate import SESSION_FIELD_TYPES
from proxy.emulator import EMULATOR_SESSIONS
from tests.support.core import config, decoded, dumps
from tests.support.rig import start_rig

RULES = config().rules


def _only_error(commands: Any) -> dict[str, Any]:
    [(where, event)] = decoded(commands)
    assert where == "client"
    assert event["type"] == "error"
    return dict(event["error"])


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "invalid_json"),
        ("{", "invalid_json"),
        ("", "invalid_json"),
        ("[]", "invalid_event"),
        ('"session.update"', "invalid_event"),
        ("42", "invalid_event"),
        ("null", "invalid_event"),
        ('{"event_id":"e1"}', "invalid_event"),
        ('{"type":7,"event_id":"e1"}', "invalid_event"),
        ('{"type":null}', "invalid_event"),
    ],
)
def test_malformed_frames_are_errors(text: str, code: str) -> None:
    """Non-JSON, non-object and type-less frames: invalid_request_error, nothing goes up."""
    error = _only_error(Translator(RULES).from_client(text))
    assert (error["type"], error["code"]) == ("invalid_request_error", code)
    if '"event_id":"e1"' in text:
        assert error["event_id"] == "e1"


def test_binary_frame_is_an_error() -> None:
    """A binary frame: invalid_event."""
    assert _only_error(Translator(RULES).from_client_binary(b"\x00"))["code"] == "invalid_event"


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ("realtime", "session"),
        ({"model": 5}, "session.model"),
        ({"audio": []}, "session.audio"),
        ({"audio": {"input": 3}}, "session.audio.input"),
        ({"audio": {"input": {"transcription": "whisper-1"}}}, "session.audio.input.transcription"),
        ({"audio": {"output": {"voice": 7}}}, "session.audio.output.voice"),
        ({"instructions": ["be", "brief"]}, "session.instructions"),
        ({"tools": {"name": "x"}}, "session.tools"),
        ({"output_modalities": "audio"}, "session.output_modalities"),
        ({"tool_choice": 1}, "session.tool_choice"),
        ({"temperature": "hot"}, "session.temperature"),
        ({"temperature": True}, "session.temperature"),
        ({"max_output_tokens": 1.5}, "session.max_output_tokens"),
        (
            {"audio": {"input": {"turn_detection": "server_vad"}}},
            "session.audio.input.turn_detection",
        ),
        ({"audio": {"output": {"speed": "fast"}}}, "session.audio.output.speed"),
        ({"type": 1}, "session.type"),
    ],
)
def test_wrong_typed_session_fields(session: Any, param: str) -> None:
    """Each wrongly typed session field: invalid_type naming it, with the event_id; nothing up."""
    event = {"type": "session.update", "event_id": "evt_9", "session": session}
    error = _only_error(Translator(RULES).from_client(dumps(event)))
    assert (error["code"], error["param"], error["event_id"]) == ("invalid_type", param, "evt_9")


def test_every_checked_field_accepts_its_documented_types() -> None:
    """A well-typed value for every checked field goes upstream."""
    session = {
        "type": "realtime",
        "instructions": "hi",
        "output_modalities": ["audio"],
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "temperature": 0.8,
        "include": None,
        "truncation": "auto",
        "prompt": None,
        "tracing": None,
        "audio": {"input": {"turn_detection": None, "noise_reduction": None},
                  "output": {"speed": 1}},
    }  # fmt: skip
    assert {path.split(".")[0] for path in SESSION_FIELD_TYPES} - {"modalities",
        "max_response_output_tokens", "turn_detection"} <= set(session)  # fmt: skip
    frame = dumps({"type": "session.update", "session": session})
    [(where, _)] = decoded(Translator(RULES).from_client(frame), frame, "upstream")
    assert where == "upstream"


def test_unknown_event_types_pass_untouched() -> None:
    """An event type the proxy does not know goes up byte for byte."""
    text = '{"type":"x.future_event","event_id":"e","weird":[1,{"a":null}]}'
    assert Translator(RULES).from_client(text) is FORWARD


async def test_session_continues_after_bad_input(aiohttp_server: Any) -> None:
    """Every kind of bad input over a real socket gets its error; then a turn still completes."""
    rig = await start_rig(aiohttp_server)
    bad = [
        "not json",
        "[1]",
        '{"event_id":"evt_a"}',
        '{"type":"session.update","event_id":"evt_b","session":{"instructions":5}}',
    ]
    async with rig.client() as ws:
        assert (await ws.next_event())["type"] == "session.created"
        for text in bad:
            await ws.ws.send_str(text)
        await ws.ws.send_bytes(b"\x01\x02")
        errors = [await ws.next_event("error") for _ in range(5)]
        assert (await ws.full_turn())[-1]["type"] == "response.done"
    codes = [(e["error"]["code"], e["error"]["event_id"]) for e in errors]
    assert codes == [
        ("invalid_json", None),
        ("invalid_event", None),
        ("invalid_event", "evt_a"),
        ("invalid_type", "evt_b"),
        ("invalid_event", None),
    ]
    [record] = rig.emulator.app[EMULATOR_SESSIONS].values()
    assert all(orjson.dumps(e).find(b"evt_b") < 0 for e in record.client_events)

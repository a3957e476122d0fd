"""Property-based tests of the translation core (hypothesis): total, lossless, idempotent."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.core.commands import Forward, ToClient, ToUpstream
from proxy.core.rewrite import ClientNames, SessionFieldError, rewrite_session
from proxy.core.translate import Translator
from tests.support.core import config

RULES = config().rules
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KNOWN_TYPES = (
    "session.update",
    "response.create",
    "input_audio_buffer.append",
    "conversation.item.create",
    "session.created",
    "session.updated",
    "response.done",
    "response.function_call_arguments.done",
    "response.output_item.added",
    "response.audio.delta",
    "response.output_audio.delta",
    "ping",
    "error",
)
# Realistic sessions: the fields the rules read, with right and wrong types mixed in.
voices = st.sampled_from(["alloy", "marin", "Ashley", "ws__clone"]) | json_values
sessions = st.fixed_dictionaries(
    {},
    optional={
        "type": st.just("realtime") | json_values,
        "model": st.sampled_from(["gpt-realtime", "openai/gpt-5.5", "gpt-4o-realtime-preview"])
        | json_values,
        "instructions": st.text(max_size=10) | json_values,
        "tracing": json_values,
        "x_unknown": json_values,
        "audio": st.fixed_dictionaries(
            {},
            optional={
                "input": st.fixed_dictionaries(
                    {},
                    optional={
                        "transcription": st.none()
                        | st.fixed_dictionaries(
                            {}, optional={"model": st.sampled_from(["whisper-1"]) | json_values}
                        )
                        | json_values,
                        "x_in": json_values,
                    },
                )
                | json_values,
                "output": st.fixed_dictionaries(
                    {},
                    optional={
                        "voice": voices | st.fixed_dictionaries({"id": voices}),
                        "x_out": json_values,
                    },
                )
                | json_values,
            },
        )
        | json_values,
    },
)
events = st.fixed_dictionaries(
    {"type": st.sampled_from(KNOWN_TYPES) | st.text(max_size=20) | json_values},
    optional={
        "event_id": json_values,
        "session": sessions | json_values,
        "response": json_values,
        "item": json_values,
        "extra": json_values,
    },
)


def _check_output(commands: Any, frame: str, *, own_errors: bool = True) -> None:
    """Every command carries a JSON object (a `Forward`: the `frame` itself); errors the
    proxy makes itself are well formed."""
    for command in commands:
        assert isinstance(command, ToClient | ToUpstream | Forward)
        text = frame if isinstance(command, Forward) else command.text
        event = orjson.loads(text)  # valid JSON
        assert isinstance(event, dict)
        if own_errors and isinstance(command, ToClient) and event.get("type") == "error":
            error = event["error"]
            assert error["type"] in ("invalid_request_error", "server_error")
            assert isinstance(error["message"], str)


@SETTINGS
@given(event=events)
def test_any_client_object_gives_json_or_clean_error(event: dict[str, Any]) -> None:
    """Any JSON object from the client: valid JSON out (up) or an OpenAI error event, no raise."""
    translator = Translator(RULES, url_model="gpt-realtime")
    translator.start()
    frame = orjson.dumps(event).decode()
    _check_output(translator.from_client(frame), frame)


@SETTINGS
@given(event=events, opened=st.booleans())
def test_any_upstream_object_gives_json(event: dict[str, Any], opened: bool) -> None:
    """Any JSON object from Inworld: valid JSON events for the client (or nothing), no raise."""
    translator = Translator(RULES)
    translator.start()
    if opened:
        translator.from_upstream('{"type":"session.created","session":{}}')
        translator.from_upstream('{"type":"session.updated","session":{}}')
    frame = orjson.dumps(event).decode()
    _check_output(translator.from_upstream(frame), frame, own_errors=False)


@SETTINGS
@given(text=st.text(max_size=60))
def test_any_text_frame_is_handled(text: str) -> None:
    """Arbitrary text frames never raise, either way."""
    translator = Translator(RULES)
    translator.start()
    _check_output(translator.from_client(text), text)
    _check_output(translator.from_upstream(text), text, own_errors=False)


@SETTINGS
@given(session=sessions)
def test_unknown_fields_preserved_and_mapping_idempotent(session: dict[str, Any]) -> None:
    """rewrite_session keeps unknown fields as they were, and mapping twice equals mapping once."""
    try:
        once = rewrite_session(RULES, session, ClientNames())
    except SessionFieldError:
        return
    for key, value in session.items():
        if key not in ("model", "audio", *RULES.drop_session_fields):
            assert once[key] == value
    if isinstance(session.get("audio"), dict):
        for part in ("input", "output"):
            inner = session["audio"].get(part)
            if isinstance(inner, dict):
                for key, value in inner.items():
                    if key.startswith("x_"):
                        assert once["audio"][part][key] == value
    assert rewrite_session(RULES, once, ClientNames()) == once

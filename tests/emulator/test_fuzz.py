"""Arbitrary client events never crash the engine: they yield events or errors (property-based,
with Hypothesis)."""

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.emulator import EmulatorSession, EmulatorSettings

TYPES = [
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "response.create",
    "response.cancel",
    "made.up",
]
FIELDS = [
    "session", "audio", "item", "item_id", "previous_item_id", "response", "response_id",
    "audio_end_ms", "content_index", "event_id", "model", "voice", "tools", "turn_detection",
    "transcription", "output", "input", "type", "role", "content", "call_id",
]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(FIELDS),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS), children, max_size=4)
    ),
    max_leaves=12,
)
EVENTS = st.builds(
    lambda type_, body: {**body, "type": type_},
    st.sampled_from(TYPES),
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(EVENTS, max_size=6))
def test_arbitrary_events_never_raise(events: list[dict[str, Any]]) -> None:
    """Every event returns a list of typed events; responses always terminate."""
    session = EmulatorSession(EmulatorSettings(), "fuzz")
    session.open()
    for event in events:
        out = session.receive_text(json.dumps(event))
        out += session.drain_response()
        assert all(isinstance(e.get("type"), str) and e.get("event_id") for e in out)
    assert not session.has_pending_response

"""proxy.core.locked and the core's answers to hostile input (issue 18 items 3 and 5): an
ephemeral token's fixed fields, JSON nested too deep to write, upstream fields of the wrong
shape. Pure: no sockets."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.core.commands import Forward, ToClient, ToUpstream
from proxy.core.locked import locked_change
from proxy.core.passthrough import RoutedTranslator
from proxy.core.translate import Translator
from tests.support.core import config, decoded, dumps

RULES = config().rules
PINNED = {
    "model": "gpt-realtime-mini",
    "instructions": "Cook.",
    "audio": {"output": {"voice": "marin"}},
}
FIELDS = ("model", "instructions", "audio.output.voice")


def _opened(translator: Translator) -> Translator:
    translator.start()
    translator.from_upstream('{"type":"session.created","session":{}}')
    translator.from_upstream('{"type":"session.updated","session":{}}')
    return translator


@pytest.mark.parametrize(
    ("given", "changed"),
    [
        ({"model": "gpt-realtime"}, "model"),
        ({"model": "gpt-realtime-mini"}, None),  # the same value is not a change
        ({"model": "gpt-realtime-mini", "instructions": "Hack."}, "instructions"),
        ({"audio": {"output": {"voice": "alloy"}}}, "audio.output.voice"),
        ({"audio": {"output": {"speed": 1.2}}}, None),  # not locked
        ({"audio": {"input": {}}, "tools": []}, None),
        ({"tool_choice": "none"}, None),
        ("not an object", None),
    ],
)
def test_locked_change(given: Any, changed: str | None) -> None:
    """The first locked field set to anything but the pinned value."""
    assert locked_change(PINNED, given, FIELDS) == changed


def test_unset_pinned_field_cannot_be_set() -> None:
    """A field the token left unset is pinned as unset."""
    assert locked_change({"model": "m"}, {"instructions": "x"}, ("instructions",)) == "instructions"
    assert locked_change(None, {"model": "m"}, ("model",)) == "model"


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_translator_refuses_changes_to_locked_fields(dialect: Any) -> None:
    """session.update and response.create that change a locked field get `error` locked_field
    naming it, nothing goes upstream; in the beta dialect too (checked on the GA form)."""
    translator = _opened(Translator(RULES, url_model="gpt-realtime-mini", dialect=dialect))
    translator.lock(PINNED, FIELDS)
    voice = {"voice": "alloy"} if dialect == "beta" else {"audio": {"output": {"voice": "alloy"}}}
    for event, param in (
        (
            {"type": "session.update", "event_id": "e1", "session": {"model": "gpt-realtime"}},
            "session.model",
        ),
        ({"type": "session.update", "session": voice}, "session.audio.output.voice"),
        (
            {"type": "response.create", "response": {"instructions": "Hack."}},
            "response.instructions",
        ),
    ):
        [(where, error)] = decoded(translator.from_client(dumps(event)))
        assert where == "client"
        assert error["error"]["code"] == "locked_field"
        assert error["error"]["param"] == param
    assert translator.refusals["locked_field"] == 3
    same = {"type": "session.update", "session": {"model": "gpt-realtime-mini"}}
    [(where, update)] = decoded(translator.from_client(dumps(same)), dumps(same), "upstream")
    assert where == "upstream"
    assert update["session"]["model"] == "openai/gpt-5.4-mini"


def test_passthrough_sessions_hold_locked_fields_too() -> None:
    """A token session routed to OpenAI (frames forwarded unchanged) refuses the same changes."""
    translator = RoutedTranslator(RULES, url_model="gpt-realtime")
    translator.passthrough = True
    translator.lock({"model": "gpt-realtime"}, ("model",))
    event = dumps({"type": "session.update", "session": {"model": "gpt-realtime-mini"}})
    [(where, error)] = decoded(translator.from_client(event))
    assert (where, error["error"]["param"]) == ("client", "session.model")
    fine = dumps({"type": "session.update", "session": {"instructions": "x"}})
    assert translator.from_client(fine) == (Forward(),)


@pytest.mark.parametrize("dialect", ["ga", "beta"])
@pytest.mark.parametrize("depth", [255, 600, 1020])
def test_client_json_nested_too_deep_to_write_is_invalid_json(dialect: Any, depth: int) -> None:
    """A session.update nested 255-1023 deep (parses, cannot be written back): `error`
    invalid_json, not an exception (the session used to end with 1011)."""
    translator = _opened(Translator(RULES, dialect=dialect))
    nested = "[" * depth + "]" * depth
    text = '{"type":"session.update","event_id":"e9","session":{"x":' + nested + "}}"
    [(where, error)] = decoded(translator.from_client(text))
    assert (where, error["error"]["code"], error["error"]["event_id"]) == (
        "client",
        "invalid_json",
        "e9",
    )
    deeper = '{"type":"session.update","session":' + "[" * 1100 + "]" * 1100 + "}"
    [(where, error)] = decoded(translator.from_client(deeper))  # past orjson's reading limit
    assert error["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    "event",
    [
        {"type": "response.function_call_arguments.done", "call_id": {"a": 1}, "item_id": [1]},
        {"type": "response.function_call_arguments.done", "call_id": "c", "item_id": {"x": 2}},
        {
            "type": "response.output_item.added",
            "item": {"type": "function_call", "call_id": {}, "name": "f"},
        },
        {"type": "response.done", "response": {"id": {"x": 1}, "metadata": [1]}, "usage": {}},
        {"type": "error", "error": {"event_id": None, "param": {"x": 1}}},
        {"type": "response.audio.delta", "x": [[[[[[[]]]]]]], "delta": {"not": "base64"}},
    ],
)
@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_upstream_fields_of_the_wrong_shape_never_raise(
    event: dict[str, Any], dialect: Any
) -> None:
    """Inworld fields of an unexpected type (an object where an id belongs...) never raise."""
    translator = _opened(Translator(RULES, dialect=dialect))
    for command in translator.from_upstream(dumps(event)):
        assert isinstance(command, Forward | ToClient | ToUpstream)


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_upstream_event_too_deep_to_write_goes_on_or_is_dropped(dialect: Any) -> None:
    """A legacy-named event (renamed, so re-written) nested too deep to write: forwarded as
    received to a GA client, dropped for a beta one, counted; never an exception."""
    translator = _opened(Translator(RULES, dialect=dialect))
    nested = "[" * 400 + "]" * 400
    text = '{"type":"response.text.done","text":"x","extra":' + nested + "}"
    commands = translator.from_upstream(text)
    assert commands == ((Forward(),) if dialect == "ga" else ())
    assert translator.rewrites["upstream_malformed"] == 1
    orjson.loads(text)  # it was valid JSON all along

"""Inworld function calling as Live delegations: Responses envelopes and client delegation."""

from __future__ import annotations

from typing import Any

import orjson

from proxy.core.commands import ToClient, ToUpstream
from proxy.core.live import LiveTranslator
from proxy.core.live_session import DELEGATE_TOOL
from tests.support.core import config
from tests.support.live import WEATHER, validated

RULES = config({}).rules


def translator(session: dict[str, Any]) -> LiveTranslator:
    t = LiveTranslator(session_id="live_1", clock=lambda: 5.0, wall=lambda: 1.7e9, lead=0.1)
    t.from_client(orjson.dumps({"type": "session.start", "session": session}))
    t.opened(RULES)
    t.from_upstream(b'{"type":"session.updated","session":{}}')
    return t


def client(commands: list[Any]) -> list[Any]:
    return [validated(c.text) for c in commands if isinstance(c, ToClient)]


def inworld(t: LiveTranslator, event: dict[str, Any]) -> list[Any]:
    return client(t.from_upstream(orjson.dumps(event)))


def up(t: LiveTranslator, event: dict[str, Any]) -> list[dict[str, Any]]:
    commands = t.from_client(orjson.dumps(event))
    return [orjson.loads(c.text) for c in commands if isinstance(c, ToUpstream)]


def call_turn(t: LiveTranslator, response: str, call: str) -> list[Any]:
    """An Inworld response that calls get_weather (Inworld leaves `name` out of `.done`)."""
    item = {"type": "function_call", "id": f"it_{call}", "call_id": call, "name": "get_weather"}
    events = inworld(t, {"type": "response.created", "response": {"id": response}})
    events += inworld(t, {"type": "response.output_item.added", "response_id": response,
                          "item": {**item, "arguments": ""}})  # fmt: skip
    done = {k: v for k, v in item.items() if k != "name"}
    events += inworld(t, {"type": "response.output_item.done", "response_id": response,
                          "item": {**done, "arguments": '{"city":"Paris"}'}})  # fmt: skip
    usage = {"total_tokens": 9, "input_tokens": 6, "output_tokens": 3}
    body = {"id": response, "status": "completed", "usage": usage}
    events += inworld(t, {"type": "response.done", "response": body})
    return events


RESPONSES = {"type": "responses", "responses": {"model": "gpt-5.4", "tools": [WEATHER]}}


def test_a_call_is_a_responses_delegation() -> None:
    t = translator({"model": "gpt-live-1", "delegation": RESPONSES})
    created, *envelopes = call_turn(t, "resp_1", "call_1")
    assert created.type == "session.delegation.created"
    assert (created.delegation.target, created.delegation.response_id) == ("responses", "resp_1")
    assert created.offset_ms == 0
    assert [e.event["type"] for e in envelopes] == [
        "response.created",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.event["sequence_number"] for e in envelopes] == [1, 2, 3]
    assert {e.delegation_id for e in envelopes} == {created.delegation.id}
    item = envelopes[1].event["item"]
    assert (item["name"], item["call_id"], item["status"]) == ("get_weather", "call_1", "completed")
    usage = envelopes[2].event["response"]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (6, 3, 9)
    assert envelopes[2].event["response"]["model"] == "gpt-5.4"


def test_outputs_then_response_create_continue_the_delegation() -> None:
    t = translator({"model": "gpt-live-1", "delegation": RESPONSES})
    created = call_turn(t, "resp_1", "call_1")[0]
    [refused] = client(t.from_client(b'{"type":"response.create"}'))
    assert refused.error.code == "function_call_outputs_required"
    output = {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
    [create] = up(t, {"type": "response.item.create", "item": output})
    assert create["item"] == output
    assert [e["type"] for e in up(t, {"type": "response.create"})] == ["response.create"]
    started = inworld(t, {"type": "response.created", "response": {"id": "resp_2"}})
    message = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "content": [{"type": "audio", "transcript": "It is sunny."}],
    }
    body = {"id": "resp_2", "status": "completed", "output": [message]}
    ended = inworld(t, {"type": "response.done", "response": body})
    assert [e.event["type"] for e in started + ended] == [
        "response.created",
        "response.output_item.done",
        "response.completed",
    ]
    assert {e.delegation_id for e in started + ended} == {created.delegation.id}
    assert ended[0].event["item"]["content"][0]["text"] == "It is sunny."


def test_a_cancelled_response_ends_incomplete() -> None:
    t = translator({"model": "gpt-live-1", "delegation": RESPONSES})
    item = {"type": "function_call", "call_id": "c", "name": "get_weather"}
    inworld(t, {"type": "response.output_item.added", "response_id": "r", "item": item})
    [end] = inworld(t, {"type": "response.done", "response": {"id": "r", "status": "cancelled"}})
    assert (end.event["type"], end.event["response"]["status"]) == (
        "response.incomplete",
        "cancelled",
    )


def test_backend_items_need_responses_delegation() -> None:
    t = translator({"model": "gpt-live-1"})
    item = {"type": "function_call_output", "call_id": "c", "output": "x"}
    [error] = client(t.from_client(orjson.dumps({"type": "response.item.create", "item": item})))
    assert error.error.code == "responses_delegation_required"


def test_backend_messages_and_refused_items() -> None:
    t = translator({"model": "gpt-live-1", "delegation": RESPONSES})
    message = {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    [create] = up(t, {"type": "response.item.create", "item": message})
    assert create["item"]["role"] == "user"
    image = {"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}
    [error] = client(t.from_client(orjson.dumps({"type": "response.item.create", "item": image})))
    assert error.error.code == "unsupported_feature"


def test_client_delegation_through_the_hidden_tool() -> None:
    """A call of the hidden tool is a client delegation; the first commentary with its id
    answers the call and asks for a spoken response."""
    t = translator({"model": "gpt-live-1"})
    item = {"type": "function_call", "call_id": "c9", "name": DELEGATE_TOOL["name"]}
    [created] = inworld(t, {"type": "response.output_item.added", "response_id": "r", "item": item})
    assert created.delegation.target == "client"
    assert created.delegation.response_id is None
    assert inworld(t, {"type": "response.output_item.done", "item": item}) == []
    answer = {
        "type": "session.commentary.append",
        "content": "Your order ships today.",
        "delegation_id": created.delegation.id,
    }
    create, respond = up(t, answer)
    assert create["item"] == {"type": "function_call_output", "call_id": "c9",
                              "output": "Your order ships today."}  # fmt: skip
    assert respond["type"] == "response.create"
    again = up(t, {**answer, "content": "Also: free shipping."})  # the call is answered already
    assert again[0]["item"]["role"] == "system"

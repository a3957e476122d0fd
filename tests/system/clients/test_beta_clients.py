"""Beta-dialect clients (`OpenAI-Beta: realtime=v1`), unchanged, through the proxy.

They speak only the beta dialect: flat session fields going up; beta event names
(`response.audio.*`, `response.audio_transcript.*`, `response.text.*`,
`conversation.item.created`), beta session/response shapes and beta content-part types
(`text`/`audio`) coming down. The Python SDK's beta spoken turn is in tests/test_e2e_sdk.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from openai import AsyncOpenAI

from tests.support.clients import proxy_address, run_node
from tests.support.stack import Stack

TIMEOUT = 10
GA_ONLY = {
    "conversation.item.added",
    "conversation.item.done",
    "response.output_audio.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.delta",
    "response.output_audio_transcript.done",
    "response.output_text.delta",
    "response.output_text.done",
}
BETA_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def events_until(conn: Any, last: str) -> list[Any]:
    """Receive events until one of type `last` (inclusive); fail on timeout."""
    events: list[Any] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in conn:
            events.append(event)
            if event.type == last:
                return events
    raise AssertionError(f"connection ended before {last}: {[e.type for e in events]}")


async def test_python_beta_text_and_tool_turns(stack: Stack) -> None:
    """client.beta.realtime: item.created, a named tool call, then a text answer in beta shape."""
    client = AsyncOpenAI(api_key="sk-local-beta", websocket_base_url=stack.proxy_ws_base())
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await events_until(conn, "session.created")
        await conn.session.update(
            session={"modalities": ["text"], "tools": [BETA_TOOL], "tool_choice": "auto"}
        )
        [updated] = await events_until(conn, "session.updated")
        assert updated.session.modalities == ["text"]
        assert [t.name for t in updated.session.tools] == ["get_weather"]
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "What is the weather? get_weather"}],
            }
        )
        created = await events_until(conn, "conversation.item.created")
        assert created[-1].item.role == "user"
        assert created[-1].item.content[0].type == "input_text"
        await conn.response.create()
        call = await events_until(conn, "response.done")
        [args_done] = [e for e in call if e.type == "response.function_call_arguments.done"]
        assert args_done.name == "get_weather"
        assert "city" in args_done.arguments
        await conn.conversation.item.create(
            item={
                "type": "function_call_output",
                "call_id": args_done.call_id,
                "output": '{"forecast": "sunny"}',
            }
        )
        await conn.response.create()
        answer = await events_until(conn, "response.done")
    types = {e.type for e in call + answer}
    assert not types & GA_ONLY, types & GA_ONLY
    assert "conversation.item.created" in types
    text = "".join(e.delta for e in answer if e.type == "response.text.delta")
    assert text == 'The tool returned: {"forecast": "sunny"}'
    [text_done] = [e for e in answer if e.type == "response.text.done"]
    assert text_done.text == text
    done = answer[-1].response
    assert done.modalities == ["text"]
    assert done.output[0].content[0].type == "text"
    assert done.usage.total_tokens > 0
    assert "OpenAI-Beta" not in stack.only_session().headers


async def test_node_beta_spoken_and_tool_turns(stack: Stack) -> None:
    """openai/beta/realtime/ws (Node): beta events for a spoken turn and a named tool call."""
    result = await run_node("openai_beta_ws.mjs", proxy_address(stack))
    spoken, tool = result["spoken"], result["tool"]
    assert spoken["errors"] == []
    assert tool["errors"] == []
    assert spoken["first"] == ["session.created"]
    assert spoken["created_session"]["object"] == "realtime.session"
    assert "type" not in spoken["created_session"]  # beta sessions have no GA `type`
    assert spoken["updated_session"]["voice"] == "marin"
    assert spoken["updated_session"]["modalities"] == ["text", "audio"]
    assert spoken["updated_session"]["output_audio_format"] == "pcm16"
    types = set(spoken["types"])
    assert not types & GA_ONLY, types & GA_ONLY
    assert {"conversation.item.created", "response.audio.delta", "response.audio.done"} <= types
    assert "response.audio_transcript.done" in types
    assert spoken["audio_bytes"] >= 4800
    assert spoken["transcript"] == "You said: Hello from the emulator."
    assert spoken["status"] == "completed"
    assert spoken["response"]["modalities"] == ["text", "audio"]
    assert spoken["response"]["output"][0]["content"][0]["type"] == "audio"
    assert tool["name"] == "get_weather"
    assert "city" in tool["arguments"]
    assert not set(tool["call_types"] + tool["answer_types"]) & GA_ONLY
    assert tool["answer"] == 'The tool returned: {"forecast": "sunny"}'
    assert all("OpenAI-Beta" not in r.headers for r in stack.sessions.values())

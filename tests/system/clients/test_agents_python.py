"""The Python OpenAI Agents SDK (`agents.realtime`), unchanged, through the proxy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from proxy.emulator import EmulatorSettings
from tests.support.clients import proxy_address, require_module
from tests.support.stack import KEY, SECRET, Stack

TIMEOUT = 15


@pytest.fixture(params=["audio", "output_audio"])
def emulator_settings(request: pytest.FixtureRequest) -> EmulatorSettings:
    """Inworld labelling assistant content parts either way (inworld-realtime.md §3.3 #6).

    The SDK validates every server event against the GA types: item content must say
    `output_audio`/`output_text` and `response.content_part.*` parts `audio`/`text`, so the
    proxy has to normalise whichever labels Inworld uses.
    """
    return EmulatorSettings(
        api_key=KEY, api_secret=SECRET, ping_interval=0.05, content_part_type=request.param
    )


async def events_until(session: Any, done: Any) -> list[Any]:
    """Session events until `done(event)` holds (inclusive); fail on timeout or SDK error."""
    seen: list[Any] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in session:
            seen.append(event)
            assert event.type != "error", event.error
            if done(event):
                return seen
    raise AssertionError(f"session ended early: {[e.type for e in seen]}")


def raw_type(event: Any) -> str | None:
    """The server event type inside a raw model event, if it is one."""
    if event.type != "raw_model_event" or event.data.type != "raw_server_event":
        return None
    kind = event.data.data.get("type")
    return kind if isinstance(kind, str) else None


def assistant_texts(history: list[Any]) -> list[str]:
    """Transcripts/text of the assistant messages in the session history."""
    out = []
    for item in history:
        if getattr(item, "type", None) == "message" and item.role == "assistant":
            out.append(
                "".join(
                    getattr(c, "transcript", None) or getattr(c, "text", None) or ""
                    for c in item.content
                )
            )
    return out


async def test_agents_python_text_and_tool_turns(stack: Stack) -> None:
    """RealtimeRunner: a text message gets spoken audio; a named @function_tool runs in the SDK."""
    agents = require_module("agents")
    realtime = require_module("agents.realtime")
    calls: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        calls.append(city)
        return f"sunny in {city}"

    agent = realtime.RealtimeAgent(name="Assistant", instructions="Be brief.", tools=[get_weather])
    runner = realtime.RealtimeRunner(agent)
    url = f"ws://{proxy_address(stack)}/v1/realtime?model=gpt-realtime"
    session = await runner.run(model_config={"url": url, "api_key": "sk-local-agents-py"})
    async with session:
        await session.send_message("Hello there")
        first = await events_until(session, lambda e: raw_type(e) == "response.done")
        audio = b"".join(e.audio.data for e in first if e.type == "audio")
        assert len(audio) >= 4800
        assert len(audio) % 2 == 0
        await session.send_message("What is the weather? get_weather")
        second = await events_until(session, lambda e: e.type == "tool_end")
        # the SDK sends the tool output and asks for a new response: the model answers with it
        third = await events_until(
            session,
            lambda e: (
                e.type == "history_updated"
                and "The tool returned: sunny in test" in assistant_texts(e.history)
            ),
        )
    assert calls == ["test"]
    [start] = [e for e in second if e.type == "tool_start"]
    assert start.tool.name == "get_weather"
    assert second[-1].output == "sunny in test"
    assert "You said: Hello there" in assistant_texts(third[-1].history)
    record = stack.only_session()
    assert record.session_config.get("tracing") is None  # the SDK's tracing "auto" was dropped
    assert record.session_config["model"] == "openai/gpt-5.5"
    assert record.headers["Authorization"].startswith("Basic ")

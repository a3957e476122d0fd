"""The Python OpenAI Agents SDK (`agents.realtime`), unchanged, through the proxy."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from proxy.emulator import EmulatorSettings, pcm16_silence, pcm16_tone
from tests.support.clients import proxy_address, require_module
from tests.support.stack import KEY, SECRET, Stack

TIMEOUT = 15
NOT_VALIDATED = "Failed to validate server event"  # the SDK's log line (logger openai.agents)


@pytest.fixture(params=["audio", "output_audio"])
def emulator_settings(request: pytest.FixtureRequest) -> EmulatorSettings:
    """Inworld labelling assistant content parts either way
    (docs/protocol-notes.md#inworld-content-labels).

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


async def test_agents_python_spoken_turn_with_transcription_validates(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """A spoken server-VAD turn with input transcription: the transcript (with the `usage` the
    proxy adds, docs/protocol-notes.md#inworld-transcription-usage) and the spoken answer
    arrive, and the SDK, which validates every server event against openai-python's GA
    types, logs no "Failed to validate server event" and emits no error event."""
    realtime = require_module("agents.realtime")
    caplog.set_level(logging.DEBUG, logger="openai.agents")
    agent = realtime.RealtimeAgent(name="Assistant", instructions="Be brief.")
    settings = {
        "input_audio_transcription": {"model": "whisper-1"},
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 200},
    }
    runner = realtime.RealtimeRunner(agent, config={"model_settings": settings})
    url = f"ws://{proxy_address(stack)}/v1/realtime?model=gpt-realtime"
    session = await runner.run(model_config={"url": url, "api_key": "sk-local-agents-py"})
    async with session:
        for at in range(0, 300, 100):
            await session.send_audio(pcm16_tone(100, offset_ms=at))
        for _ in range(3):
            await session.send_audio(pcm16_silence(100))
        events = await events_until(session, lambda e: raw_type(e) == "response.done")
    [transcribed] = [
        e.data.data
        for e in events
        if raw_type(e) == "conversation.item.input_audio_transcription.completed"
    ]
    assert transcribed["transcript"] == "Hello from the emulator."
    assert transcribed["usage"]["type"] == "duration"
    assert b"".join(e.audio.data for e in events if e.type == "audio")
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("openai.agents")]
    assert not [line for line in logged if NOT_VALIDATED in line]

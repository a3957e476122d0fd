"""LiveKit's `livekit-plugins-openai` `RealtimeModel`, unchanged, through the proxy.

The plugin's `RealtimeSession` is driven directly (no room, no AgentSession): chat context and
tools in, `generate_reply()`, then the generation's message/audio/function streams out.
`generate_reply()` only resolves when `response.created.response.metadata.client_event_id`
echoes the id it sent (else "generate_reply timed out" after 10 s), so this file needs the
proxy's response-metadata echo.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.support.clients import proxy_address, require_module
from tests.support.stack import Stack

TIMEOUT = 15


async def drain_messages(generation: Any) -> tuple[str, int]:
    """All text and audio bytes of a generation's messages."""
    text, audio = "", 0
    async for message in generation.message_stream:

        async def read_text(message: Any = message) -> str:
            return "".join([str(chunk) async for chunk in message.text_stream])

        async def read_audio(message: Any = message) -> int:
            return sum([len(frame.data.tobytes()) async for frame in message.audio_stream])

        async with asyncio.TaskGroup() as tasks:
            got_text = tasks.create_task(read_text())
            got_audio = tasks.create_task(read_audio())
        text += got_text.result()
        audio += got_audio.result()
    return text, audio


async def test_livekit_reply_and_function_call(stack: Stack) -> None:
    """generate_reply() resolves (metadata echo) with spoken audio; a tool call has its name."""
    plugin = require_module("livekit.plugins.openai")
    agents_llm = require_module("livekit.agents.llm")

    @agents_llm.function_tool
    async def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    async with aiohttp.ClientSession() as http:
        model = plugin.realtime.RealtimeModel(
            model="gpt-realtime",
            base_url=f"http://{proxy_address(stack)}/v1",
            api_key="sk-local-livekit",
            http_session=http,
        )
        session = model.session()
        try:
            async with asyncio.timeout(TIMEOUT):
                chat = agents_llm.ChatContext.empty()
                chat.add_message(role="user", content="Hello there")
                await session.update_chat_ctx(chat)
                generation = await session.generate_reply()
                text, audio = await drain_messages(generation)

                await session.update_tools([get_weather])
                chat = session.chat_ctx.copy()
                chat.add_message(role="user", content="What is the weather? get_weather")
                await session.update_chat_ctx(chat)
                generation = await session.generate_reply()
                calls = [call async for call in generation.function_stream]
        finally:
            await session.aclose()
            await model.aclose()
    assert text == "You said: Hello there"
    assert audio >= 4800
    assert [c.name for c in calls] == ["get_weather"]
    assert "city" in calls[0].arguments

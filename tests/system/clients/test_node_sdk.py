"""The official openai Node SDK (`OpenAIRealtimeWS`, GA), unchanged, through the proxy."""

from __future__ import annotations

from tests.support.clients import proxy_address, run_node
from tests.support.stack import Stack


async def test_node_ga_spoken_and_tool_turns(stack: Stack) -> None:
    """Node GA client: a spoken turn streams audio to response.done; a tool call has its name."""
    result = await run_node("openai_ws.mjs", proxy_address(stack))
    spoken, tool = result["spoken"], result["tool"]
    # the SDK built a wss:// URL; the createConnection override carried it over plain TCP
    assert spoken["url"].startswith("wss://")
    assert spoken["url"].endswith("?model=gpt-realtime")
    assert spoken["first"] == ["session.created"]
    assert spoken["voice"] == "marin"
    assert "response.output_audio.delta" in spoken["types"]
    assert spoken["audio_bytes"] >= 4800
    assert spoken["audio_bytes"] % 2 == 0
    assert spoken["transcript"] == "You said: Hello from the emulator."
    assert spoken["status"] == "completed"
    assert spoken["total_tokens"] > 0
    assert "ping" not in spoken["types"]
    assert spoken["errors"] == []
    assert tool["errors"] == []
    assert tool["name"] == "get_weather"
    assert "city" in tool["arguments"]
    assert tool["answer"] == 'The tool returned: {"forecast": "sunny"}'
    # the Inworld side really got the mapped voice for the Node client's "marin"
    voices = {r.session_config["audio"]["output"]["voice"] for r in stack.sessions.values()}
    assert "Sarah" in voices

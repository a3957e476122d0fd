"""The JS OpenAI Agents SDK (`@openai/agents-realtime`, Node), unchanged, through the proxy."""

from __future__ import annotations

from tests.support.clients import proxy_address, run_node
from tests.support.stack import Stack


async def test_agents_js_text_and_tool_turns(stack: Stack) -> None:
    """RealtimeSession: a text turn is answered in audio; a named tool runs in the SDK."""
    result = await run_node("agents_realtime.mjs", proxy_address(stack))
    assert result["errors"] == []
    assert result["first_status"] == "completed"
    assert result["audio_bytes_after_text"] >= 4800
    assert result["assistant_transcripts"] == ["You said: Hello there"]
    assert result["tool_calls"] == ["test"]  # the SDK executed the tool with the model's args
    assert result["tool_end"] == [{"name": "get_weather", "result": "sunny in test"}]
    assert result["answer_transcript"] == "The tool returned: sunny in test"
    # the SDK's follow-up session.update carries tracing "auto": the proxy drops it
    record = stack.only_session()
    assert record.session_config.get("tracing") is None
    assert record.session_config["model"] == "openai/gpt-5.5"
    assert record.headers["Authorization"].startswith("Basic ")  # never the client's key

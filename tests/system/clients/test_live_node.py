"""The official openai Node SDK's Live client (`LiveWS`), unchanged, through the proxy."""

from __future__ import annotations

import base64

from tests.support.clients import proxy_address, run_node
from tests.support.live import CHUNK, validated
from tests.support.stack import Stack


async def test_node_live_spoken_turn_and_close(stack: Stack) -> None:
    """LiveWS with only its baseURL changed: session.started, the paced reply with transcripts,
    session.close -> session.closed and a normal close. Every event validates against the SDK's
    Live types."""
    result = await run_node("openai_live.mjs", proxy_address(stack))
    assert result["url"] == f"ws://{proxy_address(stack)}/v1/live/sessions"
    assert result["errors"] == []
    events = [validated(event) for event in result["events"]]
    kinds = [e.type for e in events]
    assert kinds[0] == "session.started"
    assert events[0].client_event_id == "node-start"
    assert "error" not in kinds
    heard = "".join(e.delta for e in events if e.type == "session.input_transcript.delta")
    assert heard == "Hello from the emulator."
    audio = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "session.output_audio.delta"
    )
    assert len(audio) >= 5 * CHUNK
    assert kinds[-2:] == ["session.usage.updated", "session.closed"]
    assert events[-1].reason == "close_requested"
    assert result["code"] == 1000
    assert stack.only_session().session_config["audio"]["output"]["voice"] == "Sarah"

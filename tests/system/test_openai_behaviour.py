"""Behaviour OpenAI clients rely on where Inworld differs, through the real proxy to the
emulator (which behaves like Inworld): no voice activity events with `turn_detection: null`
(docs/protocol-notes.md#inworld-vad-events), OpenAI's default output modalities
(docs/protocol-notes.md#inworld-output-modalities).
"""

from __future__ import annotations

from typing import Any

from proxy.emulator import EMULATOR_PATH, pcm16_silence, pcm16_tone
from tests.support.scripted import b64, session
from tests.support.stack import Stack, StartProxy, proxy_config

VAD_EVENTS = {"input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"}
MANUAL = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
USER_TEXT = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}


def url(stack: Stack) -> Any:
    return stack.proxy.make_url("/v1/realtime?model=gpt-realtime")


async def manual_turn(client: Any) -> list[dict[str, Any]]:
    """turn_detection null, speech then silence, a commit: the events up to the transcript."""
    await client.send(type="session.update", session=MANUAL)
    await client.until("session.updated")
    await client.send(type="input_audio_buffer.append", audio=b64(pcm16_tone(300)))
    await client.send(type="input_audio_buffer.append", audio=b64(pcm16_silence(600)))
    await client.send(type="input_audio_buffer.commit")
    return await client.until("conversation.item.input_audio_transcription.completed")


async def test_no_vad_events_with_manual_turns(stack: Stack) -> None:
    """With turn_detection null the client sees no speech_started/stopped (Inworld, like the
    emulator, sends both), only its own commit's events; the drop is counted."""
    async with session(url(stack)) as client:
        events = await manual_turn(client)
    assert VAD_EVENTS.isdisjoint(e["type"] for e in events)
    assert "input_audio_buffer.committed" in [e["type"] for e in events]
    sent = set(stack.only_session().sent_event_types)
    assert sent >= VAD_EVENTS  # the emulator did send them: the proxy dropped them
    name = "inworld_proxy_rewrites_total"
    assert stack.registry.get_sample_value(name, {"kind": "vad_event_dropped"}) == 2


async def test_vad_events_pass_when_configured(stack: Stack, start_proxy: StartProxy) -> None:
    """translation.drop_vad_events_without_turn_detection = false passes them through."""
    upstream = str(stack.emulator.make_url(EMULATOR_PATH)).replace("http", "ws", 1)
    proxy = await start_proxy(proxy_config(upstream, drop_vad_events_without_turn_detection=False))
    async with session(proxy.make_url("/v1/realtime")) as client:
        events = await manual_turn(client)
    assert {e["type"] for e in events} >= VAD_EVENTS


async def test_default_output_modalities_are_openais(stack: Stack) -> None:
    """A client that never sets output_modalities sees ["audio"] in its session and
    responses (Inworld's default is ["audio", "text"]) and gets audio with its transcript;
    one that asks for ["text"] gets text."""
    async with session(url(stack)) as client:
        [created] = client.events
        assert created["session"]["output_modalities"] == ["audio"]
        await client.send(type="conversation.item.create", item=USER_TEXT)
        await client.send(type="response.create")
        events = await client.until("response.done")
        kinds = {e["type"] for e in events}
        assert events[-1]["response"]["output_modalities"] == ["audio"]
        assert {"response.output_audio.delta", "response.output_audio_transcript.delta"} <= kinds
        await client.send(type="session.update", session={"output_modalities": ["text"]})
        [updated] = await client.until("session.updated")
        assert updated["session"]["output_modalities"] == ["text"]


async def test_beta_default_modalities_are_openais(stack: Stack) -> None:
    """A beta client sees beta's default, modalities ["text", "audio"]."""
    async with session(url(stack), headers={"OpenAI-Beta": "realtime=v1"}) as client:
        [created] = client.events
    assert created["session"]["modalities"] == ["text", "audio"]

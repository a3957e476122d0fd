"""End to end: the official OpenAI Python SDK, unchanged, through the proxy to the emulator."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from websockets.exceptions import InvalidStatus

from proxy.emulator import pcm16_silence, pcm16_tone
from tests.support.stack import CREDENTIAL, Stack

TIMEOUT = 10
TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def sdk(base_url: str) -> AsyncOpenAI:
    """An OpenAI client exactly as a user configures it for the proxy."""
    return AsyncOpenAI(api_key="sk-local-test", websocket_base_url=base_url)


async def events_until(conn: AsyncRealtimeConnection, last: str) -> list[Any]:
    """Receive events until one of type `last` (inclusive); fail on timeout."""
    events: list[Any] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in conn:
            events.append(event)
            if event.type == last:
                return events
    raise AssertionError(f"connection ended before {last}: {[e.type for e in events]}")


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


async def test_spoken_turn(stack: Stack) -> None:
    """append, commit, response.create -> audio deltas and response.done, via the SDK."""
    async with sdk(stack.proxy_ws_base()).realtime.connect(model="gpt-realtime") as conn:
        first = await events_until(conn, "session.created")
        assert [e.type for e in first] == ["session.created"]
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"turn_detection": None}, "output": {"voice": "marin"}},
            }
        )
        updated = await events_until(conn, "session.updated")
        assert updated[-1].session.audio.output.voice == "marin"
        for chunk in range(10):  # 1 s of "speech" in 100 ms appends
            await conn.input_audio_buffer.append(audio=b64(pcm16_tone(100, offset_ms=chunk * 100)))
        await conn.input_audio_buffer.commit()
        committed = await events_until(conn, "input_audio_buffer.committed")
        assert not [e for e in committed if e.type == "error"]
        await conn.response.create()
        events = await events_until(conn, "response.done")
    types = [e.type for e in events]
    audio = [e for e in events if e.type == "response.output_audio.delta"]
    assert audio, types
    pcm = b"".join(base64.b64decode(e.delta) for e in audio)
    assert len(pcm) >= 4800  # at least 100 ms of PCM16 24 kHz
    assert len(pcm) % 2 == 0
    assert "response.output_audio_transcript.delta" in types
    done = events[-1]
    assert done.response.status == "completed"
    assert done.response.usage.total_tokens > 0
    assert "ping" not in types


async def test_tool_call_turn(stack: Stack) -> None:
    """A tool call arrives with its name (the proxy adds it) and its result gets an answer."""
    async with sdk(stack.proxy_ws_base()).realtime.connect(model="gpt-realtime") as conn:
        await events_until(conn, "session.created")
        await conn.session.update(
            session={"type": "realtime", "tools": [TOOL], "output_modalities": ["text"]}
        )
        await events_until(conn, "session.updated")
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "What is the weather? get_weather"}],
            }
        )
        await conn.response.create()
        events = await events_until(conn, "response.done")
        [args_done] = [e for e in events if e.type == "response.function_call_arguments.done"]
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
    text = "".join(e.delta for e in answer if e.type == "response.output_text.delta")
    assert "sunny" in text
    # the emulator itself really omitted the name: the proxy added it
    record = stack.only_session()
    assert record.engine.settings.omit_function_call_name


async def test_voice_only_update_leaves_mapped_session_upstream(stack: Stack) -> None:
    """A client sending only voice 'marin' leaves Inworld with mapped model, STT, TTS, voice."""
    async with sdk(stack.proxy_ws_base()).realtime.connect(model="gpt-realtime") as conn:
        await events_until(conn, "session.created")
        await conn.session.update(
            session={"type": "realtime", "audio": {"output": {"voice": "marin"}}}
        )
        await events_until(conn, "session.updated")
    session = stack.only_session().session_config
    assert session["model"] == "openai/gpt-5.5"
    assert session["audio"]["input"]["transcription"]["model"] == "inworld/inworld-stt-1"
    assert session["audio"]["output"]["model"] == "inworld-tts-2"
    assert session["audio"]["output"]["voice"] == "Sarah"


async def test_no_session_update_still_maps_everything(stack: Stack) -> None:
    """Without any client session.update, Inworld still gets the mapped four."""
    async with sdk(stack.proxy_ws_base()).realtime.connect(model="gpt-realtime-mini") as conn:
        [created] = await events_until(conn, "session.created")
        assert created.session.model == "gpt-realtime-mini"
    session = stack.only_session().session_config
    assert session["model"] == "openai/gpt-5.4-mini"
    assert session["audio"]["output"]["voice"] == "Ashley"
    assert session["audio"]["output"]["model"] == "inworld-tts-2"
    assert session["audio"]["input"]["transcription"]["model"] == "inworld/inworld-stt-1"


async def test_server_vad_turn(stack: Stack) -> None:
    """Speech then silence with server VAD: the emulator commits and answers on its own."""
    async with sdk(stack.proxy_ws_base()).realtime.connect(model="gpt-realtime") as conn:
        await events_until(conn, "session.created")
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
                    }
                },
            }
        )
        await events_until(conn, "session.updated")
        for chunk in range(6):
            await conn.input_audio_buffer.append(audio=b64(pcm16_tone(100, offset_ms=chunk * 100)))
        for _ in range(6):
            await conn.input_audio_buffer.append(audio=b64(pcm16_silence(100)))
        events = await events_until(conn, "response.done")
    types = [e.type for e in events]
    for expected in (
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_audio.delta",
    ):
        assert expected in types, types
    assert types.index("input_audio_buffer.speech_stopped") < types.index("response.created")


async def test_same_client_straight_at_emulator_is_refused(stack: Stack) -> None:
    """Pointed at the emulator directly, the unchanged SDK client cannot even connect."""
    manager = sdk(stack.emulator_ws_base()).realtime.connect(model="gpt-realtime")
    with pytest.raises(InvalidStatus) as info:
        await asyncio.wait_for(manager.enter(), TIMEOUT)
    assert info.value.response.status_code == 404  # no OpenAI path on Inworld
    assert stack.sessions == {}


async def test_openai_shaped_session_is_rejected_by_emulator(stack: Stack) -> None:
    """Untranslated OpenAI auth and model names sent to the emulator are refused."""
    url = str(stack.emulator.make_url("/api/v1/realtime/session?key=k1&protocol=realtime"))
    url = url.replace("http", "ws", 1)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url, headers={"Authorization": "Bearer sk-local-test"})
        assert info.value.status == 401
        ws = await http.ws_connect(url, headers={"Authorization": f"Basic {CREDENTIAL}"})
        update = {
            "type": "session.update",
            "session": {"type": "realtime", "model": "gpt-realtime"},
        }
        await ws.send_json(update)
        async with asyncio.timeout(TIMEOUT):
            async for msg in ws:
                event = msg.json()
                if event["type"] == "error":
                    break
        await ws.close()
    assert event["error"]["param"] == "session.model"
    assert stack.sessions["k1"].session_config["model"] != "gpt-realtime"


async def test_beta_sdk_spoken_turn(stack: Stack) -> None:
    """The SDK's beta client (OpenAI-Beta header) gets beta events and beta shapes."""
    client = sdk(stack.proxy_ws_base())
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        [created] = await events_until(conn, "session.created")
        assert created.session.voice == "alloy"
        await conn.session.update(
            session={
                "voice": "sage",
                "turn_detection": None,
                "modalities": ["text", "audio"],
                "input_audio_transcription": {"model": "whisper-1"},
            }
        )
        [updated] = await events_until(conn, "session.updated")
        assert updated.session.voice == "sage"
        assert updated.session.input_audio_format == "pcm16"
        for chunk in range(5):
            await conn.input_audio_buffer.append(audio=b64(pcm16_tone(100, offset_ms=chunk * 100)))
        await conn.input_audio_buffer.commit()
        await conn.response.create(response={"modalities": ["text", "audio"]})
        events = await events_until(conn, "response.done")
    types = [e.type for e in events]
    assert "response.audio.delta" in types
    assert "response.audio_transcript.delta" in types
    assert "conversation.item.created" in types
    ga_only = {"response.output_audio.delta", "response.output_text.delta"}
    ga_only |= {"response.output_audio_transcript.delta", "conversation.item.added"}
    assert not ga_only & set(types)
    assert "conversation.item.done" not in types
    assert events[-1].response.modalities == ["text", "audio"]
    upstream = stack.only_session()
    assert "OpenAI-Beta" not in upstream.headers
    assert upstream.session_config["audio"]["output"]["voice"] == "Wendy"


async def test_transcription_only_session(stack: Stack) -> None:
    """?intent=transcription + a GA transcription session: transcripts arrive, no response."""
    client = sdk(stack.proxy_ws_base())
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        [created] = await events_until(conn, "session.created")
        assert created.session.type == "transcription"
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "transcription": {"model": "gpt-4o-transcribe"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
                    }
                },
            }
        )
        await events_until(conn, "session.updated")
        for chunk in range(5):
            await conn.input_audio_buffer.append(audio=b64(pcm16_tone(100, offset_ms=chunk * 100)))
        for _ in range(5):
            await conn.input_audio_buffer.append(audio=b64(pcm16_silence(100)))
        events = await events_until(conn, "conversation.item.input_audio_transcription.completed")
    assert events[-1].transcript == "Hello from the emulator."
    assert not [e for e in events if e.type.startswith("response.")]
    session = stack.only_session().session_config
    assert session["audio"]["input"]["turn_detection"]["create_response"] is False
    assert session["audio"]["input"]["transcription"]["model"] == "inworld/inworld-stt-1"

"""End to end: the official OpenAI Python SDK's Live client (`client.live.connect()`), with only
its base URL changed, through the proxy to the emulator (which stays Inworld).

Every server event is validated against the SDK's Live `ServerEvent` types on arrival
(`tests.support.live.validated`): the schema check of docs/live.md.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

from proxy.emulator import EmulatorSettings
from tests.support.live import CHUNK, WEATHER, Received, speech
from tests.support.processes import start_process, stop, wait_for_event
from tests.support.scripted import EndedSessions
from tests.support.stack import KEY, SECRET, Stack

HEARD = "What is the weather? get_weather"  # what the emulator's recogniser hears
REPLY = f"You said: {HEARD}"


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    return EmulatorSettings(
        api_key=KEY, api_secret=SECRET, ping_interval=0.05, input_transcript=HEARD
    )


def live_client(stack: Stack) -> AsyncOpenAI:
    """An OpenAI client as a user points it at the proxy: the base URL and nothing else."""
    return AsyncOpenAI(api_key="sk-local-test", base_url=str(stack.proxy.make_url("/v1")))


async def speak(conn: Any, tone_ms: int = 600, silence_ms: int = 800) -> None:
    for audio in speech(tone_ms, silence_ms):
        await conn.session.input_audio.append(audio=audio)


async def test_spoken_turn_paced_transcribed_and_closed(stack: Stack) -> None:
    """session.start -> session.started; speech -> input transcript, paced reply audio with
    its transcript on the timeline; session.close -> usage, session.closed, close 1000."""
    async with live_client(stack).live.connect() as conn:
        got = Received(conn.recv_bytes)
        await conn.session.start(
            session={
                "model": "gpt-live-1.1",
                "instructions": "Be brief.",
                "audio": {"output": {"voice": "marin"}},
            },
            event_id="start-1",
        )
        started = await got.until_type("session.started")
        await speak(conn)
        await got.until(lambda e: got.text("session.output_transcript.delta") == REPLY)
        await conn.session.close()
        closing = await got.until(lambda e: e.type == "session.closed")
        with pytest.raises(ConnectionClosedOK):
            await conn.recv_bytes()
    assert started.client_event_id == "start-1"
    assert started.session.id.startswith("live_")
    assert started.session.model == "gpt-live-1.1"
    assert started.session.audio.output.voice == "marin"
    assert started.session.audio.format.rate == 24000
    assert [e.type for e in got.events if e.type == "error"] == []
    assert got.text("session.input_transcript.delta") == HEARD
    for kind in ("session.input_transcript.delta", "session.output_transcript.delta"):
        spans = [(e.start_ms, e.end_ms) for e in got.of(kind)]
        assert all(0 <= start <= end for start, end in spans), spans
    outputs = got.of("session.output_transcript.delta")
    assert [e.start_ms for e in outputs] == sorted(e.start_ms for e in outputs)
    [heard] = got.of("session.input_transcript.delta")
    assert outputs[0].start_ms >= heard.end_ms  # the reply follows the question on the timeline
    audio = got.audio()
    assert len(audio) >= 5 * CHUNK
    assert len(audio) % 2 == 0
    # paced: the deltas arrive over most of the audio's own duration, not in one burst
    times = [
        t for e, t in zip(got.events, got.times, strict=True) if e.type.endswith("audio.delta")
    ]
    assert times[-1] - times[0] >= 0.5 * len(audio) / 48_000 - 0.2
    assert [e.type for e in closing[-2:]] == ["session.usage.updated", "session.closed"]
    assert closing[-1].reason == "close_requested"
    assert closing[-1].session.id == started.session.id
    # the Live names went through the proxy's rules on the way to Inworld
    session = stack.only_session().session_config
    assert session["model"] == "openai/gpt-5.5"
    assert session["audio"]["output"]["voice"] == "Sarah"
    assert session["audio"]["output"]["model"] == "inworld-tts-2"
    assert session["audio"]["input"]["transcription"]["model"] == "inworld/inworld-stt-1"
    assert session["instructions"] == "Be brief."


async def test_tool_call_through_responses_delegation(stack: Stack) -> None:
    """A function tool in delegation.responses: the call arrives as session.delegation.created
    plus response.event envelopes; its output and response.create get the answer spoken."""
    async with live_client(stack).live.connect() as conn:
        got = Received(conn.recv_bytes)
        responses = {"model": "gpt-5.4", "instructions": "Use tools.", "tools": [WEATHER]}
        await conn.session.start(
            session={
                "model": "gpt-live-1.1",
                "delegation": {"type": "responses", "responses": responses},
            }
        )
        started = await got.until_type("session.started")
        await speak(conn)
        stream = await got.until(
            lambda e: e.type == "response.event" and e.event["type"] == "response.completed"
        )
        [created] = got.of("session.delegation.created", stream)
        envelopes = [e for e in stream if e.type == "response.event"]
        assert {e.delegation_id for e in envelopes} == {created.delegation.id}
        kinds = [e.event["type"] for e in envelopes]
        assert kinds == ["response.created", "response.output_item.done", "response.completed"]
        assert created.delegation.target == "responses"
        assert created.delegation.response_id == envelopes[0].event["response"]["id"]
        call = envelopes[1].event["item"]
        assert call["type"] == "function_call"
        assert call["name"] == "get_weather"  # Inworld left it out: the proxy filled it in
        assert "city" in json.loads(call["arguments"])
        await conn.response.item.create(
            item={
                "type": "function_call_output",
                "call_id": call["call_id"],
                "output": '{"forecast": "sunny"}',
            }
        )
        await conn.response.create()
        answer = await got.until(lambda e: "sunny" in got.text("session.output_transcript.delta"))
        if not any(
            e.event["type"] == "response.completed" for e in got.of("response.event", answer)
        ):
            answer += await got.until(
                lambda e: e.type == "response.event" and e.event["type"] == "response.completed"
            )
    assert started.session.delegation.responses.tools[0].name == "get_weather"
    assert [e for e in got.events if e.type == "error"] == []
    continued = [e for e in got.of("response.event", answer)]
    assert {e.delegation_id for e in continued} == {created.delegation.id}
    [message] = [e.event["item"] for e in continued if e.event["type"].endswith("item.done")]
    assert "sunny" in message["content"][0]["text"]
    record = stack.only_session()
    assert [t["name"] for t in record.session_config["tools"]] == ["get_weather"]
    outputs = [e for e in record.client_events if e["type"] == "conversation.item.create"]
    assert outputs[-1]["item"]["call_id"] == call["call_id"]


async def test_interruption_stops_the_reply_and_truncates_what_was_heard(stack: Stack) -> None:
    """Speaking over a reply the proxy is still pacing out: the client gets at most the chunk
    in flight, and Inworld is told how much of the reply was heard."""
    async with live_client(stack).live.connect() as conn:
        got = Received(conn.recv_bytes)
        await conn.session.start(session={"model": "gpt-live-1.1"})
        await got.until_type("session.started")
        await speak(conn)
        await got.until(lambda e: len(got.of("session.output_audio.delta")) == 3)
        before = len(got.events)
        await speak(conn, tone_ms=300, silence_ms=800)  # barge in
        await got.until(lambda e: len(got.of("session.input_transcript.delta")) == 2)
        late = got.of("session.output_audio.delta", got.events[before:])
        assert len(late) <= 2  # the chunk in flight (two on a slow machine), then nothing
        first_reply = got.audio()
        assert len(first_reply) < len(REPLY) * 60 * 48 // 2  # far less than the whole reply
        record = stack.only_session()
        [truncate] = [e for e in record.client_events if e["type"] == "conversation.item.truncate"]
        heard_ms = len(first_reply) / 48
        assert 0 < truncate["audio_end_ms"] <= heard_ms + 500
        assert truncate["audio_end_ms"] >= heard_ms - 250
        assert truncate["content_index"] == 0
        # the conversation goes on: the second reply is heard in full
        await got.until(lambda e: got.text("session.output_transcript.delta").endswith(REPLY))
    assert [e for e in got.events if e.type == "error"] == []


async def test_decisions_delegation_is_refused_at_start(stack: Stack) -> None:
    """delegation.type = "decisions" has no Inworld equivalent: an error naming the field and
    a close the SDK does not retry; Inworld is never dialled."""
    async with live_client(stack).live.connect() as conn:
        got = Received(conn.recv_bytes)
        decisions = {"model": "gpt-5.4", "questions": []}
        await conn.session.start(
            session={
                "model": "gpt-live-1",
                "delegation": {"type": "decisions", "decisions": decisions},
            }
        )
        error = await got.until_type("error")
        with pytest.raises(ConnectionClosedError) as closed:
            await conn.recv_bytes()
    assert error.error.code == "unsupported_feature"
    assert error.error.param == "session.delegation.type"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert stack.sessions == {}


async def test_inworld_refusal_names_the_live_field(stack: Stack) -> None:
    """A voice Inworld does not know: Inworld's error, with the Live field's name, then close."""
    async with live_client(stack).live.connect() as conn:
        got = Received(conn.recv_bytes)
        await conn.session.start(
            session={"model": "gpt-live-1", "audio": {"output": {"voice": "no-such-voice"}}},
            event_id="s1",
        )
        error = await got.until_type("error")
        with pytest.raises(ConnectionClosedError):
            await conn.recv_bytes()
    assert error.error.param == "session.audio.output.voice"
    assert error.client_event_id == "s1"
    assert "Inworld refused" in error.error.message
    assert not got.of("session.started")


async def test_unsupported_commands_get_errors_and_the_session_goes_on(stack: Stack) -> None:
    """Decisions, fixtures and client-only commands: a Live error each; mute still works."""
    async with live_client(stack).live.connect() as conn:
        got = Received(conn.recv_bytes)
        await conn.session.start(session={"model": "gpt-live-1.1"})
        await got.until_type("session.started")
        await conn.decision.create(event_id="d1")
        error = await got.until_type("error")
        await conn.response.create(event_id="r1")  # client delegation: no Responses backend
        refused = await got.until_type("error")
        await conn.session.input_audio.mute(event_id="m1")
        muted = await got.until_type("session.input_audio.muted")
        await conn.session.thinking.append(content="The user is called Ada.", delegation_id=None)
        thought = await got.until_type("session.thinking.appended")
        await conn.session.close()
        await got.until_type("session.closed")
    assert (error.error.code, error.client_event_id) == ("unsupported_feature", "d1")
    assert refused.error.code == "responses_delegation_required"
    assert muted.client_event_id == "m1"
    assert thought.start_ms <= thought.end_ms
    items = [
        e for e in stack.only_session().client_events if e["type"] == "conversation.item.create"
    ]
    assert items[-1]["item"]["role"] == "system"
    assert "Ada" in items[-1]["item"]["content"][0]["text"]


async def test_commands_before_session_start_are_refused(stack: Stack) -> None:
    """A socket whose first message is not session.start (an SDK reconnect) is told so."""
    async with live_client(stack).live.connect() as conn:
        got = Received(conn.recv_bytes)
        await conn.session.input_audio.append(audio=speech(100, 0)[0])
        error = await got.until_type("error")
        with pytest.raises(ConnectionClosedError):
            await conn.recv_bytes()
    assert error.error.code == "session_not_started"


async def test_metrics_count_live_sessions_with_their_protocol(stack: Stack) -> None:
    """A Live session is counted like a Realtime one, under protocol="live"."""
    ends = EndedSessions(stack.proxy.app)
    async with live_client(stack).live.connect() as conn:
        got = Received(conn.recv_bytes)
        await conn.session.start(session={"model": "gpt-live-1.1"})
        await got.until_type("session.started")
        active = stack.registry.get_sample_value(
            "inworld_proxy_sessions_active", {"transport": "websocket", "protocol": "live"}
        )
        await conn.session.close()
        await got.until_type("session.closed")
    await ends.wait()
    assert active == 1
    labels = {
        "outcome": "client_closed",
        "close_code_class": "normal",
        "dialect": "ga",
        "transport": "websocket",
        "protocol": "live",
    }
    assert stack.registry.get_sample_value("inworld_proxy_sessions_total", labels) == 1
    realtime = {**labels, "protocol": "realtime"}
    assert stack.registry.get_sample_value("inworld_proxy_sessions_total", realtime) is None


async def test_through_serve_emulator_spoken_tool_call() -> None:
    """The proxy as users start it (`serve --emulator`, a real process): a spoken question,
    a forced tool call, `session.update` back to `auto`, the output, the spoken answer."""
    process = await start_process("--emulator", "--port", "0")
    try:
        listening = await wait_for_event(process, "listening")
        base = listening["url"].removesuffix("/realtime").replace("ws://", "http://", 1)
        client = AsyncOpenAI(api_key="sk-local", base_url=base)
        async with client.live.connect() as conn:
            got = Received(conn.recv_bytes)
            forced = {"type": "function", "name": "get_weather"}
            responses = {"model": "gpt-5.4", "tools": [WEATHER], "tool_choice": forced}
            await conn.session.start(
                session={
                    "model": "gpt-live-1",
                    "delegation": {"type": "responses", "responses": responses},
                }
            )
            await got.until_type("session.started")
            await speak(conn)
            heard = await got.until(
                lambda e: e.type == "response.event" and e.event["type"] == "response.completed"
            )
            [call] = [
                e.event["item"]
                for e in got.of("response.event", heard)
                if e.event["type"] == "response.output_item.done"
            ]
            await conn.session.update(
                session={"delegation": {"type": "responses", "responses": {"tool_choice": "auto"}}}
            )
            updated = await got.until_type("session.updated")
            output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
            await conn.response.item.create(item=output)
            await conn.response.create()
            await got.until(lambda e: "sunny" in got.text("session.output_transcript.delta"))
            await conn.session.close()
            await got.until_type("session.closed")
    finally:
        assert await stop(process) == 0
    assert got.text("session.input_transcript.delta") == "Hello from the emulator."
    assert call["name"] == "get_weather"
    assert updated.session.delegation.responses.tool_choice == "auto"
    assert [e for e in got.events if e.type == "error"] == []

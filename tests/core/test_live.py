"""The Live translator on its own: client frames and Inworld frames in, commands out, a fake
clock. Every event it writes for the client is validated against the openai SDK's Live types."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from proxy.core.commands import CloseClient, ToClient, ToUpstream
from proxy.core.live import LiveTranslator
from proxy.core.live_events import Dial, FlushOutput, Play
from tests.support.core import config
from tests.support.live import CHUNK, WEATHER, validated

RULES = config({}).rules


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def frames(commands: list[Any]) -> list[Any]:
    """The client-bound events of `commands` (direct and paced), validated."""
    out = []
    for command in commands:
        if isinstance(command, ToClient):
            out.append(validated(command.text))
        elif isinstance(command, Play):
            out.append(validated(command.frame))
    return out


def upstream(commands: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(c.text) for c in commands if isinstance(c, ToUpstream)]


def send(t: LiveTranslator, event: dict[str, Any]) -> list[Any]:
    return t.from_client(orjson.dumps(event))


def inworld(t: LiveTranslator, event: dict[str, Any]) -> list[Any]:
    return t.from_upstream(orjson.dumps(event))


def started(session: dict[str, Any] | None = None, lead: float = 0.1) -> tuple[Any, Clock]:
    clock = Clock()
    t = LiveTranslator(session_id="live_1", clock=clock, wall=lambda: 1.7e9, lead=lead)
    commands = send(t, {"type": "session.start", "session": session or {"model": "gpt-live-1"}})
    assert commands[-1] == Dial(session["model"] if session else "gpt-live-1")
    [update] = upstream(t.opened(RULES))
    inworld(t, {"type": "session.updated", "session": update["session"]})
    assert t.phase == "started"
    return t, clock


def audio(ms: int) -> str:
    return base64.b64encode(bytes(ms * 48)).decode()


def test_start_is_answered_once_inworld_accepts() -> None:
    clock = Clock()
    t = LiveTranslator(session_id="live_1", clock=clock, wall=lambda: 1.7e9, lead=0.1)
    session = {"model": "gpt-live-1.1", "audio": {"output": {"voice": "cedar"}}}
    assert send(t, {"type": "session.start", "event_id": "s", "session": session}) == [
        Dial("gpt-live-1.1")
    ]
    [update] = upstream(t.opened(RULES))
    assert update["type"] == "session.update"
    assert update["event_id"].startswith("live_")
    assert inworld(t, {"type": "session.created", "session": {}}) == []
    [ack] = frames(inworld(t, {"type": "session.updated", "session": update["session"]}))
    assert ack.type == "session.started"
    assert ack.client_event_id == "s"
    assert ack.session.audio.output.voice == "cedar"
    assert ack.session.id == "live_1"
    assert ack.session.expires_at > 1.7e9


def test_inworld_refusal_is_a_live_error_and_a_close() -> None:
    t = LiveTranslator(session_id="live_1", clock=Clock(), wall=lambda: 0.0, lead=0.1)
    send(t, {"type": "session.start", "event_id": "s", "session": {"model": "gpt-live-1"}})
    [update] = upstream(t.opened(RULES))
    refusal = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_value",
            "message": "Unknown voice.",
            "param": "session.audio.output.voice",
            "event_id": update["event_id"],
        },
    }
    commands = inworld(t, refusal)
    [error] = frames(commands)
    assert error.error.param == "session.audio.output.voice"
    assert error.client_event_id == "s"
    assert commands[-1] == CloseClient(1008, "session.start refused")


def test_a_changed_audio_format_is_refused() -> None:
    t = LiveTranslator(session_id="live_1", clock=Clock(), wall=lambda: 0.0, lead=0.1)
    session = {"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 16000}}}
    send(t, {"type": "session.start", "session": session})
    t.opened(RULES)
    coerced = {"audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}}}}
    commands = inworld(t, {"type": "session.updated", "session": coerced})
    [error] = frames(commands)
    assert error.error.code == "unsupported_audio_format"
    assert isinstance(commands[-1], CloseClient)


def test_audio_goes_up_rewrapped_and_muted_as_silence() -> None:
    t, _ = started()
    tone = base64.b64encode(b"\x01\x02" * 2400).decode()
    frame = f'{{"type": "session.input_audio.append", "audio": "{tone}"}}'.encode()
    [up] = upstream(t.from_client(frame))
    assert up == {"type": "input_audio_buffer.append", "audio": tone}
    [muted] = frames(send(t, {"type": "session.input_audio.mute", "event_id": "m"}))
    assert muted.type == "session.input_audio.muted"
    assert muted.client_event_id == "m"
    [up] = upstream(t.from_client(frame))
    assert base64.b64decode(up["audio"]) == bytes(4800)  # same length, all silence
    send(t, {"type": "session.input_audio.unmute"})
    assert upstream(t.from_client(frame))[0]["audio"] == tone


def test_reply_is_paced_with_its_transcript_on_the_timeline() -> None:
    """Chunks leave once the client holds at most `lead` of unplayed audio; a transcript
    fragment leaves with, and is timed as, the next chunk of its item."""
    t, clock = started(lead=0.1)
    clock.now += 2.0
    where = {"response_id": "r1", "item_id": "i1"}
    inworld(t, {"type": "response.created", "response": {"id": "r1"}})
    inworld(t, {"type": "response.output_audio_transcript.delta", **where, "delta": "Hi "})
    played = []
    for _ in range(3):
        played += inworld(t, {"type": "response.output_audio.delta", **where, "delta": audio(100)})
    assert [type(c) for c in played] == [Play, Play, Play, Play]
    times = [c.at for c in played]
    assert times == pytest.approx([clock.now, clock.now, clock.now, clock.now + 0.1])
    text, first = frames(played)[:2]
    assert (text.delta, text.start_ms, text.end_ms) == ("Hi ", 2000, 2100)
    assert first.type == "session.output_audio.delta"
    tail = inworld(t, {"type": "response.output_audio_transcript.delta", **where, "delta": "!"})
    tail += inworld(t, {"type": "response.output_audio.done", **where})
    [rest] = frames(tail)
    assert (rest.delta, rest.start_ms) == ("!", 2300)


def test_speech_over_a_reply_flushes_and_truncates_what_was_heard() -> None:
    t, clock = started(lead=0.1)
    where = {"response_id": "r1", "item_id": "i1"}
    inworld(t, {"type": "response.created", "response": {"id": "r1"}})
    for _ in range(10):  # one second, all of it scheduled at once
        inworld(t, {"type": "response.output_audio.delta", **where, "delta": audio(100)})
    inworld(t, {"type": "response.done", "response": {"id": "r1", "status": "completed"}})
    clock.now += 0.35
    commands = inworld(t, {"type": "input_audio_buffer.speech_started", "item_id": "u1"})
    assert commands[0] == FlushOutput()
    [truncate] = upstream(commands)
    assert truncate["type"] == "conversation.item.truncate"
    assert (truncate["item_id"], truncate["content_index"], truncate["audio_end_ms"]) == (
        "i1",
        0,
        350,
    )
    late = {"type": "response.output_audio.delta", **where, "delta": audio(100)}
    assert inworld(t, late) == []  # the cut item stays cut
    clock.now += 5
    assert inworld(t, {"type": "input_audio_buffer.speech_started", "item_id": "u2"}) == []
    # Inworld's error about the proxy's own truncation is not the client's business
    error = {"type": "error", "error": {"message": "x", "event_id": truncate["event_id"]}}
    assert inworld(t, error) == []


def test_input_transcripts_carry_the_speech_span() -> None:
    t, clock = started()
    tone = {"type": "session.input_audio.append", "audio": audio(100)}
    send(t, tone)  # the input timeline starts with the first append
    clock.now += 3
    inworld(
        t, {"type": "input_audio_buffer.speech_started", "item_id": "u1", "audio_start_ms": 500}
    )
    inworld(t, {"type": "input_audio_buffer.speech_stopped", "item_id": "u1", "audio_end_ms": 2100})
    done = {"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1"}
    [delta] = frames(inworld(t, {**done, "transcript": "Hello there."}))
    assert (delta.delta, delta.start_ms, delta.end_ms) == ("Hello there.", 500, 2100)


def test_client_errors_keep_the_session_and_name_the_command() -> None:
    t, _ = started()
    [bad] = frames(t.from_client(b"{not json"))
    assert bad.error.code == "invalid_json"
    [unknown] = frames(send(t, {"type": "session.bogus", "event_id": "b"}))
    assert (unknown.error.code, unknown.client_event_id) == ("invalid_event", "b")
    for kind in ("decision.create", "session.output_audio.fixture.play", "transport.dtmf.send"):
        [error] = frames(send(t, {"type": kind, "event_id": "x"}))
        assert error.error.code == "unsupported_feature"
    [again] = frames(send(t, {"type": "session.start", "session": {"model": "m"}}))
    assert again.error.code == "session_already_started"
    assert t.phase == "started"
    assert t.refusals["unsupported_feature"] == 3


def test_inworld_errors_reach_the_client_with_its_event_id() -> None:
    t, _ = started()
    [create] = upstream(
        send(
            t,
            {
                "type": "session.commentary.append",
                "event_id": "c",
                "content": "Hi",
                "delegation_id": None,
            },
        )
    )[:1]
    error = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "code": "x",
            "message": "no",
            "event_id": create["event_id"],
        },
    }
    [live] = frames(inworld(t, error))
    assert (live.error.code, live.error.client_event_id) == ("x", "c")


def test_context_appends() -> None:
    """instructions grow Inworld's prompt; thinking is a silent item; commentary asks for a
    response; each is acknowledged on the timeline."""
    t, clock = started({"model": "gpt-live-1", "instructions": "Base."})
    clock.now += 1.5
    commands = send(t, {"type": "session.instructions.append", "content": "Be short.",
                        "delegation_id": None})  # fmt: skip
    [update] = upstream(commands)
    assert update["session"]["instructions"] == "Base.\n\nBe short."
    [ack] = frames(commands)
    assert (ack.type, ack.start_ms, ack.end_ms) == ("session.instructions.appended", 1500, 1500)
    assert frames(inworld(t, {"type": "session.updated", "session": {}})) == []  # swallowed
    thinking = upstream(send(t, {"type": "session.thinking.append", "content": "VIP caller",
                                 "delegation_id": None}))  # fmt: skip
    assert [e["type"] for e in thinking] == ["conversation.item.create"]
    assert thinking[0]["item"]["role"] == "system"
    commentary = upstream(send(t, {"type": "session.commentary.append", "content": "Greet",
                                   "delegation_id": None}))  # fmt: skip
    assert [e["type"] for e in commentary] == ["conversation.item.create", "response.create"]
    [error] = frames(send(t, {"type": "session.thinking.append", "content": "x",
                              "delegation_id": "nope"}))  # fmt: skip
    assert error.error.param == "delegation_id"


def test_session_update_changes_the_responses_tools() -> None:
    responses = {"model": "gpt-5.4", "tools": []}
    t, _ = started({"model": "gpt-live-1", "delegation": {"type": "responses",
                                                          "responses": responses}})  # fmt: skip
    change = {"delegation": {"type": "responses", "responses": {"tools": [WEATHER]}}}
    commands = send(t, {"type": "session.update", "event_id": "u", "session": change})
    [update] = upstream(commands)
    assert [tool["name"] for tool in update["session"]["tools"]] == ["get_weather"]
    [ack] = frames(inworld(t, {"type": "session.updated", "session": {}}))
    assert ack.type == "session.updated"
    assert ack.client_event_id == "u"
    assert ack.session.delegation.responses.tools[0].name == "get_weather"
    [error] = frames(
        send(t, {"type": "session.update", "session": {"delegation": {"type": "client"}}})
    )
    assert error.error.param == "session.delegation"


def test_session_close_reports_usage_and_closes() -> None:
    t, clock = started()
    clock.now += 42.7
    commands = send(t, {"type": "session.close", "event_id": "bye"})
    usage, closed = frames(commands)
    assert usage.usage.seconds == 42
    assert (closed.reason, closed.usage.seconds, closed.client_event_id) == (
        "close_requested",
        42,
        "bye",
    )
    assert commands[-1] == CloseClient(1000, "")
    assert send(t, {"type": "session.input_audio.mute"}) == []
    assert t.closing("connection_lost") == []  # once


def test_the_first_message_must_be_session_start() -> None:
    t = LiveTranslator(session_id="live_1", clock=Clock(), wall=lambda: 0.0, lead=0.1)
    commands = send(t, {"type": "session.input_audio.append", "audio": audio(10)})
    [error] = frames(commands)
    assert error.error.code == "session_not_started"
    assert commands[-1] == CloseClient(1008, "session not started")


def test_g711_sessions_size_audio_at_8_khz() -> None:
    session = {"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcmu", "rate": 8000}}}
    t, clock = started(session)
    where = {"response_id": "r", "item_id": "i"}
    inworld(t, {"type": "response.output_audio.delta", **where, "delta": audio(100)})  # 4800 B
    second = inworld(t, {"type": "response.output_audio.delta", **where, "delta": audio(1)})
    assert second[0].at == pytest.approx(clock.now + 0.6 - 0.1)  # 4800 bytes = 600 ms at 8 kHz
    assert CHUNK == 4800


def test_the_schema_check_refuses_what_the_sdk_types_refuse() -> None:
    """`validated` (run on every Live event of these tests) is strict: a transcript without
    its timeline span, or an envelope around a malformed Responses event, fails it."""
    with pytest.raises(ValidationError):
        validated({"type": "session.output_transcript.delta", "event_id": "e", "delta": "x"})
    with pytest.raises(ValidationError):
        validated({"type": "response.event", "event_id": "e",
                   "event": {"type": "response.completed", "sequence_number": 1}})  # fmt: skip
    with pytest.raises(ValidationError):
        validated({"type": "session.closed", "event_id": "e", "reason": "bye", "session": {},
                   "usage": {"seconds": 1}})  # fmt: skip

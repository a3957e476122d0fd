"""The pure emulator engine, driven event by event without sockets."""

import base64
import json
import re
from typing import Any

import pytest

from proxy.emulator import EmulatorSession, EmulatorSettings, pcm16_silence, pcm16_tone

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}


def make(**overrides: Any) -> EmulatorSession:
    session = EmulatorSession(EmulatorSettings(**overrides), "test-key", clock=lambda: 1_000.0)
    session.open()
    return session


def send(engine: EmulatorSession, /, **event: Any) -> list[dict[str, Any]]:
    return engine.receive_text(json.dumps(event))


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def squash(names: list[str]) -> list[str]:
    """Collapse runs of the same type (interleaved deltas) for order assertions."""
    out: list[str] = []
    for name in names:
        if not out or out[-1] != name:
            out.append(name)
    return out


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


def say(session: EmulatorSession, text: str) -> None:
    send(
        session,
        type="conversation.item.create",
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    )


def manual_turns(session: EmulatorSession) -> None:
    send(session, type="session.update", session={"audio": {"input": {"turn_detection": None}}})


# -- session.created / session.update -------------------------------------------------------


def test_session_created_has_documented_defaults() -> None:
    """session.created carries the full default session with a UUID event_id."""
    session = EmulatorSession(EmulatorSettings(), "k", clock=lambda: 1_000.0)
    [created] = session.open()
    cfg = created["session"]
    assert created["type"] == "session.created"
    assert UUID.fullmatch(created["event_id"])
    assert cfg["model"] == "google-ai-studio/gemini-2.5-flash"
    assert cfg["audio"]["output"]["voice"] == "Dennis"
    assert cfg["audio"]["output"]["model"] == "inworld-tts-1.5-mini"
    assert cfg["audio"]["input"]["transcription"] is None
    assert cfg["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
    assert cfg["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert cfg["expires_at"] == 1_900


def test_session_update_deep_merges_and_answers_full_session() -> None:
    """A partial update merges into nested dicts and session.updated echoes everything."""
    session = make()
    send(session, type="session.update", session={"providerData": {"tts": {"language": "fr-FR"}}})
    [updated] = send(
        session,
        type="session.update",
        session={
            "type": "realtime",
            "instructions": "Be brief.",
            "audio": {"output": {"voice": "Ashley"}},
            "providerData": {"memory": {"enabled": True}},
        },
    )
    cfg = updated["session"]
    assert updated["type"] == "session.updated"
    assert cfg["instructions"] == "Be brief."
    assert cfg["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "model": "inworld-tts-1.5-mini",
        "voice": "Ashley",
        "speed": 1.0,
    }
    assert cfg["audio"]["input"]["turn_detection"]["eagerness"] == "medium"
    assert cfg["providerData"] == {"tts": {"language": "fr-FR"}, "memory": {"enabled": True}}
    assert session.session_config == cfg
    assert session.updates_applied == 2


def test_session_update_ignores_unknown_and_snake_case_provider_data() -> None:
    """provider_data and beta-style flat fields are dropped without error
    (docs/protocol-notes.md#inworld-session-update)."""
    session = make()
    [updated] = send(
        session,
        type="session.update",
        session={"provider_data": {"tts": {"language": "de"}}, "voice": "alloy", "modalities": []},
    )
    assert updated["type"] == "session.updated"
    assert "provider_data" not in updated["session"]
    assert "voice" not in updated["session"]
    assert updated["session"]["providerData"] == {}
    assert session.ignored_fields == ["provider_data", "voice", "modalities"]


def test_null_replaces_turn_detection() -> None:
    """A null value replaces the current object (manual turns)."""
    session = make()
    manual_turns(session)
    assert session.session_config["audio"]["input"]["turn_detection"] is None


@pytest.mark.parametrize(
    ("patch", "param", "bad"),
    [
        ({"model": "gpt-realtime"}, "session.model", "gpt-realtime"),
        ({"model": "gpt-4o-realtime-preview"}, "session.model", "gpt-4o-realtime-preview"),
        ({"modelId": "gpt-realtime"}, "session.model", "gpt-realtime"),
        ({"model": "mistral/large"}, "session.model", "mistral/large"),
        ({"audio": {"output": {"voice": "marin"}}}, "session.audio.output.voice", "marin"),
        ({"audio": {"output": {"voice": "ashley"}}}, "session.audio.output.voice", "ashley"),
        ({"audio": {"output": {"voice": {"id": "Ashley"}}}}, "session.audio.output.voice", "id"),
        ({"audio": {"output": {"model": "tts-1"}}}, "session.audio.output.model", "tts-1"),
        (
            {"audio": {"input": {"transcription": {"model": "whisper-1"}}}},
            "session.audio.input.transcription.model",
            "whisper-1",
        ),
        (
            {"audio": {"input": {"turn_detection": {"type": "push_to_talk"}}}},
            "session.audio.input.turn_detection.type",
            "push_to_talk",
        ),
        ({"output_modalities": ["audio", "video"]}, "session.output_modalities", "video"),
        ({"type": "transcription"}, "session.type", "transcription"),
        ({"tools": [{"type": "function"}]}, "session.tools", "function"),
    ],
)
def test_invalid_update_is_rejected_whole(patch: dict[str, Any], param: str, bad: str) -> None:
    """Any invalid value yields invalid_value naming it, and nothing of the update applies."""
    session = make()
    before = json.dumps(session.session_config)
    [error] = send(
        session,
        type="session.update",
        event_id="evt_1",
        session={"instructions": "changed", **patch},
    )
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["code"] == "invalid_value"
    assert error["error"]["param"] == param
    assert error["error"]["event_id"] == "evt_1"
    assert bad in error["error"]["message"]
    assert json.dumps(session.session_config) == before
    assert session.updates_received == 1
    assert session.updates_applied == 0


def test_session_must_be_an_object() -> None:
    """session.update without an object payload is an error with param 'session'."""
    session = make()
    [error] = send(session, type="session.update", session="realtime")
    assert error["error"]["param"] == "session"
    assert session.last_error is not None
    assert session.last_error["code"] == "invalid_value"


@pytest.mark.parametrize(
    ("patch", "path", "value"),
    [
        ({"model": "openai/gpt-5.5"}, "model", "openai/gpt-5.5"),
        ({"modelId": "anthropic/claude-sonnet-4-6"}, "model", "anthropic/claude-sonnet-4-6"),
        ({"model": "llama-3.3-70b-versatile"}, "model", "llama-3.3-70b-versatile"),
        ({"model": "inworld/models/GLM-5.1"}, "model", "inworld/models/GLM-5.1"),
        ({"audio": {"output": {"voice": "Ashley"}}}, "audio.output.voice", "Ashley"),
        ({"audio": {"output": {"voice": "ws__myvoice"}}}, "audio.output.voice", "ws__myvoice"),
        ({"audio": {"output": {"model": "inworld-tts-2"}}}, "audio.output.model", "inworld-tts-2"),
        (
            {"audio": {"input": {"transcription": {"model": "inworld/inworld-stt-1"}}}},
            "audio.input.transcription.model",
            "inworld/inworld-stt-1",
        ),
    ],
)
def test_valid_update_is_applied(patch: dict[str, Any], path: str, value: str) -> None:
    """Inworld ids (provider/model, legacy modelId, system and custom voices) are accepted."""
    session = make()
    [updated] = send(session, type="session.update", session=patch)
    node: Any = updated["session"]
    for key in path.split("."):
        node = node[key]
    assert node == value
    assert "modelId" not in updated["session"]


def test_requested_audio_format_is_coerced_to_pcm24k() -> None:
    """Like Inworld (docs/protocol-notes.md#inworld-audio-formats), a G.711 request is answered
    with PCM16 24 kHz; the switch echoes it."""
    patch = {"audio": {"input": {"format": {"type": "audio/pcmu"}}}}
    session = make()
    [updated] = send(session, type="session.update", session=patch)
    assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    echo = make(coerce_audio_format=False)
    [updated] = send(echo, type="session.update", session=patch)
    assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu", "rate": 24000}


# -- text turns and responses ----------------------------------------------------------------


def test_item_create_assigns_server_fields() -> None:
    """conversation.item.create answers added + done with id, object and status."""
    session = make()
    added, done = send(
        session,
        type="conversation.item.create",
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
    )
    assert types([added, done]) == ["conversation.item.added", "conversation.item.done"]
    item = done["item"]
    assert item["id"].startswith("item_")
    assert item["object"] == "realtime.item"
    assert item["status"] == "completed"
    assert added["previous_item_id"] is None
    assert session.items[0]["id"] == item["id"]


def test_item_create_honours_previous_item_id() -> None:
    """previous_item_id inserts after that item ("root" = first); unknown ids are refused."""
    session = make()
    say(session, "first")
    first_id = session.items[0]["id"]
    item = {"id": "item_b", "role": "user", "content": [{"type": "input_text", "text": "b"}]}
    send(session, type="conversation.item.create", previous_item_id="root", item=item)
    assert [i["id"] for i in session.items] == ["item_b", first_id]
    [error] = send(
        session,
        type="conversation.item.create",
        previous_item_id="item_nope",
        item={**item, "id": "item_c"},
    )
    assert error["error"]["code"] == "item_not_found"
    [dup] = send(session, type="conversation.item.create", item=item)
    assert dup["error"]["param"] == "item.id"
    assert len(session.items) == 2


def test_text_only_response_streams_output_text() -> None:
    """output_modalities ["text"] gives output_text deltas that spell the reply."""
    session = make()
    say(session, "hello there")
    assert send(session, type="response.create", response={"output_modalities": ["text"]}) == []
    events = session.drain_response()
    assert squash(types(events)) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
    ]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: hello there"
    assert events[-1]["response"]["status"] == "completed"
    assert not session.has_pending_response


def test_audio_response_event_order_and_content() -> None:
    """An audio response follows the GA order (docs/emulator.md#text-turns-and-responses);
    transcript deltas and audio add up."""
    session = make(audio_chunk_ms=100)
    say(session, "hi")
    send(session, type="response.create")
    events = session.drain_response()
    names = squash(types(events))
    assert names[:4] == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
    ]
    assert set(names[4:-6]) == {
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
    }
    assert names[-6:] == [
        "response.output_audio_transcript.done",
        "response.output_audio.done",
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
    ]
    reply = "You said: hi"
    deltas = [e for e in events if e["type"] == "response.output_audio_transcript.delta"]
    assert "".join(e["delta"] for e in deltas) == reply
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) == len(reply) * 60 * 24 * 2  # 60 ms per character, PCM16 24 kHz
    part_added = next(e for e in events if e["type"] == "response.content_part.added")
    assert part_added["part"] == {"type": "audio", "transcript": ""}
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"] == [{"type": "audio", "transcript": reply}]
    usage = done["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert set(usage) >= {"input_token_details", "output_token_details"}


def test_batches_end_with_one_audio_delta() -> None:
    """Each pulled batch ends with an audio delta except the final response.done batch."""
    session = make()
    say(session, "pace me")
    send(session, type="response.create")
    batches = []
    while session.has_pending_response:
        batches.append(session.next_response_batch())
    assert all(b[-1]["type"] == "response.output_audio.delta" for b in batches[:-1])
    assert batches[-1][-1]["type"] == "response.done"
    assert session.next_response_batch() == []


def test_output_audio_content_part_switch() -> None:
    """content_part_type="output_audio" labels parts with the GA names."""
    session = make(content_part_type="output_audio")
    send(session, type="response.create")
    events = session.drain_response()
    part = next(e for e in events if e["type"] == "response.content_part.done")["part"]
    assert part["type"] == "output_audio"
    assert part["transcript"] == "Hello! How can I help you today?"


def test_second_response_create_while_active_is_rejected() -> None:
    """A second response.create during a response errors with the OpenAI code."""
    session = make()
    send(session, type="response.create")
    session.next_response_batch()
    [error] = send(session, type="response.create", event_id="evt_2")
    assert error["error"]["code"] == "conversation_already_has_active_response"
    assert error["error"]["event_id"] == "evt_2"
    assert session.has_pending_response


# -- tool calls ------------------------------------------------------------------------------


def test_required_tool_call_omits_name_on_arguments_done() -> None:
    """A tool call streams arguments; .done lacks name, as Inworld does
    (docs/protocol-notes.md#inworld-function-call-name)."""
    session = make()
    send(
        session, type="session.update", session={"tools": [WEATHER_TOOL], "tool_choice": "required"}
    )
    say(session, "anything")
    send(session, type="response.create")
    events = session.drain_response()
    assert squash(types(events)) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
    ]
    item = events[1]["item"]
    assert item["type"] == "function_call"
    assert item["name"] == "get_weather"
    assert item["call_id"].startswith("call_")
    assert item["arguments"] == ""
    args_done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert "name" not in args_done
    assert args_done["call_id"] == item["call_id"]
    assert json.loads(args_done["arguments"]) == {"city": "test"}
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert "".join(deltas) == args_done["arguments"]


def test_tool_output_then_reply_and_name_switch() -> None:
    """After function_call_output the reply quotes it; omit_function_call_name=False adds name."""
    session = make(omit_function_call_name=False)
    send(session, type="session.update", session={"tools": [WEATHER_TOOL]})
    say(session, "please get weather for Paris")  # auto: the tool name is mentioned
    send(session, type="response.create")
    events = session.drain_response()
    args_done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert args_done["name"] == "get_weather"
    send(
        session,
        type="conversation.item.create",
        item={
            "type": "function_call_output",
            "call_id": args_done["call_id"],
            "output": '{"t":21}',
        },
    )
    send(session, type="response.create")
    events = session.drain_response()
    done = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert done["transcript"] == 'The tool returned: {"t":21}'


def test_auto_tool_choice_without_mention_replies_normally() -> None:
    """With tool_choice auto and no mention, the response is a normal message."""
    session = make()
    send(session, type="session.update", session={"tools": [WEATHER_TOOL]})
    say(session, "tell me a joke")
    send(session, type="response.create")
    events = session.drain_response()
    assert events[-1]["response"]["output"][0]["type"] == "message"


# -- input audio -----------------------------------------------------------------------------


def test_server_vad_turn_commits_transcribes_and_responds() -> None:
    """Loud then silent audio yields the server-VAD sequence (docs/emulator.md#voice-turns) and
    an auto response."""
    session = make()
    send(
        session,
        type="session.update",
        session={
            "audio": {
                "input": {
                    "transcription": {"model": "inworld/inworld-stt-1"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 200},
                }
            }
        },
    )
    started = send(session, type="input_audio_buffer.append", audio=b64(pcm16_tone(300)))
    assert types(started) == ["input_audio_buffer.speech_started"]
    assert started[0]["audio_start_ms"] == 0
    events = send(session, type="input_audio_buffer.append", audio=b64(pcm16_silence(300)))
    assert types(events) == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.done",
    ]
    item_id = started[0]["item_id"]
    assert events[0]["audio_end_ms"] == 300
    assert {events[0]["item_id"], events[1]["item_id"], events[3]["item_id"]} == {item_id}
    assert events[3]["transcript"] == "Hello from the emulator."
    assert events[4]["item"]["content"] == [
        {"type": "input_audio", "transcript": "Hello from the emulator."}
    ]
    assert session.has_pending_response
    reply = session.drain_response()
    transcript = next(e for e in reply if e["type"] == "response.output_audio_transcript.done")
    assert transcript["transcript"] == "You said: Hello from the emulator."


def test_vad_without_transcription_and_without_auto_response() -> None:
    """No transcription event without STT configured; create_response false waits."""
    session = make()
    send(
        session,
        type="session.update",
        session={"audio": {"input": {"turn_detection": {"create_response": False}}}},
    )
    pcm = pcm16_tone(200) + pcm16_silence(600)
    events = send(session, type="input_audio_buffer.append", audio=b64(pcm))
    assert "conversation.item.input_audio_transcription.completed" not in types(events)
    assert types(events)[-1] == "conversation.item.done"
    assert events[-1]["item"]["content"][0]["transcript"] is None
    assert not session.has_pending_response


def test_manual_commit_and_clear() -> None:
    """With turn_detection null, audio waits for commit; empty commit errors; clear clears."""
    session = make()
    manual_turns(session)
    [error] = send(session, type="input_audio_buffer.commit", event_id="c0")
    assert error["error"]["code"] == "input_audio_buffer_commit_empty"
    assert error["error"]["event_id"] == "c0"
    events = send(
        session, type="input_audio_buffer.append", audio=b64(pcm16_tone(200) + pcm16_silence(800))
    )
    # informational VAD events still fire (docs/protocol-notes.md#inworld-server-events), but
    # nothing is committed
    assert types(events) == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
    ]
    assert session.items == []
    committed = send(session, type="input_audio_buffer.commit")
    assert types(committed) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert committed[0]["item_id"] == events[0]["item_id"]
    assert not session.has_pending_response
    send(session, type="input_audio_buffer.append", audio=b64(pcm16_silence(100)))
    assert types(send(session, type="input_audio_buffer.clear")) == ["input_audio_buffer.cleared"]
    assert types(send(session, type="input_audio_buffer.commit")) == ["error"]


def test_manual_mode_vad_events_switch() -> None:
    """vad_events_without_turn_detection=False keeps manual mode silent."""
    session = make(vad_events_without_turn_detection=False)
    manual_turns(session)
    pcm = pcm16_tone(200) + pcm16_silence(800)
    assert send(session, type="input_audio_buffer.append", audio=b64(pcm)) == []


def test_bad_audio_is_rejected() -> None:
    """Non-base64 audio answers invalid_value on 'audio'."""
    session = make()
    [error] = send(session, type="input_audio_buffer.append", audio="not base64!")
    assert error["error"]["param"] == "audio"


def test_barge_in_cancels_in_flight_response() -> None:
    """Speech during a response cancels it with reason turn_detected."""
    session = make()
    say(session, "a long enough question to keep talking")
    send(session, type="response.create")
    first = session.next_response_batch()
    events = send(session, type="input_audio_buffer.append", audio=b64(pcm16_tone(100)))
    assert types(events) == ["input_audio_buffer.speech_started", "response.done"]
    response = events[1]["response"]
    assert response["id"] == first[0]["response"]["id"]
    assert response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert response["output"][0]["status"] == "incomplete"
    assert not session.has_pending_response
    assert session.next_response_batch() == []


def test_response_cancel_active_and_idle() -> None:
    """response.cancel ends an active response (client_cancelled) and errors when idle."""
    session = make()
    send(session, type="response.create")
    session.next_response_batch()
    [done] = send(session, type="response.cancel")
    assert done["response"]["status_details"]["reason"] == "client_cancelled"
    [error] = send(session, type="response.cancel", event_id="cx")
    assert error["error"]["code"] == "response_cancel_not_active"
    assert error["error"]["event_id"] == "cx"


# -- item operations and robustness ----------------------------------------------------------


def test_item_retrieve_truncate_delete() -> None:
    """Item ops answer retrieved/truncated/deleted; bad ids and user items are refused."""
    session = make()
    say(session, "hi")
    send(session, type="response.create")
    assistant = session.drain_response()[-1]["response"]["output"][0]
    user_id = session.items[0]["id"]
    [retrieved] = send(session, type="conversation.item.retrieve", item_id=user_id)
    assert retrieved["item"]["id"] == user_id
    [truncated] = send(
        session, type="conversation.item.truncate", item_id=assistant["id"], audio_end_ms=120
    )
    assert (truncated["type"], truncated["audio_end_ms"]) == ("conversation.item.truncated", 120)
    [wrong] = send(session, type="conversation.item.truncate", item_id=user_id, audio_end_ms=0)
    assert wrong["error"]["code"] == "invalid_item_type"
    [deleted] = send(session, type="conversation.item.delete", item_id=user_id)
    assert deleted == {**deleted, "type": "conversation.item.deleted", "item_id": user_id}
    [missing] = send(session, type="conversation.item.delete", item_id=user_id, event_id="d1")
    assert missing["error"]["code"] == "item_not_found"
    assert missing["error"]["event_id"] == "d1"
    assert [i["id"] for i in session.items] == [assistant["id"]]


def test_bad_json_then_session_still_works() -> None:
    """Unparsable text answers 'Failed to parse message' and the session carries on."""
    session = make()
    [error] = session.receive_text("{not json")
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"] == "Failed to parse message"
    assert types(send(session, type="session.update", session={})) == ["session.updated"]


def test_unknown_event_ignored_or_error_by_setting() -> None:
    """Unknown types are ignored by default and rejected with unknown_event_error."""
    session = make()
    assert send(session, type="nope") == []
    assert session.unknown_events == ["nope"]
    strict = make(unknown_event_error=True)
    [error] = send(strict, type="nope", event_id="n1")
    assert (error["error"]["param"], error["error"]["event_id"]) == ("type", "n1")


def test_binary_frame_is_an_error_and_recorded() -> None:
    """A binary frame gets an error and shows up in the recorded client events."""
    session = make()
    [error] = session.receive_binary(b"\x00\x01")
    assert error["error"]["code"] == "invalid_event"
    assert session.client_event_types == ["<binary frame>"]


def test_client_events_are_recorded_without_audio() -> None:
    """Recorded client events keep fields but replace base64 audio by its length."""
    session = make()
    send(session, type="input_audio_buffer.append", audio=b64(pcm16_silence(20)), event_id="a1")
    [recorded] = session.client_events
    assert recorded == {
        "type": "input_audio_buffer.append",
        "audio": "<1280 base64 chars>",
        "event_id": "a1",
    }


def test_ids_are_deterministic_per_key_and_unique() -> None:
    """Two sessions with the same key emit identical streams; event ids never repeat."""
    streams = []
    for _ in range(2):
        session = make()
        say(session, "hi")
        send(session, type="response.create")
        streams.append(session.drain_response())
    assert streams[0] == streams[1]
    event_ids = [e["event_id"] for e in streams[0]]
    assert len(event_ids) == len(set(event_ids))
    assert all(UUID.fullmatch(i) for i in event_ids)
    assert streams[0][0]["response"]["id"].startswith("resp_")


def test_response_metadata_echo_is_opt_in() -> None:
    """metadata is not echoed by default (unknown for Inworld), echoed with the switch."""
    meta = {"client_event_id": "x"}
    quiet = make()
    send(quiet, type="response.create", response={"metadata": meta})
    assert quiet.next_response_batch()[0]["response"]["metadata"] is None
    echo = make(echo_response_metadata=True)
    send(echo, type="response.create", response={"metadata": meta})
    assert echo.next_response_batch()[0]["response"]["metadata"] == meta


def test_receive_before_open_is_a_programming_error() -> None:
    """Feeding frames before open() raises, so a broken shell fails loudly."""
    session = EmulatorSession(EmulatorSettings(), "k")
    with pytest.raises(RuntimeError):
        session.receive_text("{}")

"""proxy.core.translate: whole conversations through the core, no sockets."""

import dataclasses
from typing import Any

import pytest

from proxy.core.commands import FORWARD, ToClient
from proxy.core.translate import Phase, Translator
from tests.support.core import CREATED, UPDATED, config, decoded, dumps

RULES = config().rules


def opened(**rules: Any) -> Translator:
    """A translator past session start-up (Inworld acknowledged the proxy's update)."""
    tr = Translator(dataclasses.replace(RULES, **rules), url_model="gpt-realtime")
    tr.start()
    tr.from_upstream(dumps(CREATED))
    tr.from_upstream(dumps(UPDATED))
    assert tr.phase is Phase.OPEN
    return tr


def test_start_sends_initial_session_update() -> None:
    """start() sends one session.update with the mapped model, STT, TTS model and voice."""
    [(where, event)] = decoded(Translator(RULES, url_model="gpt-realtime-mini").start())
    assert where == "upstream"
    assert event["type"] == "session.update"
    assert event["event_id"].startswith("event_")
    assert event["session"]["model"] == "openai/gpt-5.4-mini"
    assert event["session"]["audio"]["output"] == {"model": "inworld-tts-2", "voice": "Ashley"}


def test_client_sees_session_created_first_and_no_extra_update() -> None:
    """Inworld's created + the ack of the proxy's update become one session.created."""
    tr = Translator(RULES, url_model="gpt-realtime")
    tr.start()
    assert tr.from_upstream(dumps(CREATED)) == ()
    [(where, event)] = decoded(tr.from_upstream(dumps(UPDATED)), dumps(UPDATED), "client")
    assert where == "client"
    assert event["type"] == "session.created"
    # the client sees the names it used (echo_client_names) for the effective session
    assert event["session"]["model"] == "gpt-realtime"
    assert event["session"]["audio"]["output"]["voice"] == "alloy"


def test_session_created_shows_inworld_ids_when_echo_is_off() -> None:
    """With echo_client_names off, the client sees Inworld's ids."""
    tr = Translator(dataclasses.replace(RULES, echo_client_names=False), url_model=None)
    tr.start()
    tr.from_upstream(dumps(CREATED))
    [(_, event)] = decoded(tr.from_upstream(dumps(UPDATED)), dumps(UPDATED), "client")
    assert event["session"]["model"] == "openai/gpt-5.5"
    assert event["session"]["audio"]["output"]["voice"] == "Ashley"


def test_rejected_initial_update_surfaces_created_then_error() -> None:
    """If Inworld rejects the proxy's update, the client gets session.created then the error."""
    tr = Translator(RULES)
    tr.start()
    tr.from_upstream(dumps(CREATED))
    error = {"type": "error", "error": {"type": "invalid_request_error", "param": "x"}}
    out = decoded(tr.from_upstream(dumps(error)), dumps(error), "client")
    assert [e["type"] for _, e in out] == ["session.created", "error"]
    assert tr.phase is Phase.OPEN


def test_client_session_update_is_rewritten() -> None:
    """A client session.update with voice marin reaches Inworld as Sarah, model mapped."""
    tr = opened()
    update = {
        "type": "session.update",
        "event_id": "evt_1",
        "session": {
            "type": "realtime",
            "model": "gpt-realtime",
            "audio": {"output": {"voice": "marin"}},
        },
    }
    [(where, event)] = decoded(tr.from_client(dumps(update)), dumps(update), "upstream")
    assert where == "upstream"
    assert event["event_id"] == "evt_1"
    assert event["session"]["model"] == "openai/gpt-5.5"
    assert event["session"]["audio"]["output"]["voice"] == "Sarah"
    # and the answer shows the client's own names
    answer = dict(UPDATED, session={**UPDATED["session"], "audio": {"output": {"voice": "Sarah"}}})
    [(_, shown)] = decoded(tr.from_upstream(dumps(answer)), dumps(answer), "client")
    assert shown["type"] == "session.updated"
    assert shown["session"]["audio"]["output"]["voice"] == "marin"


def test_unchanged_client_events_are_forwarded_verbatim() -> None:
    """Events no rule touches go up as the very same string (no re-serialisation)."""
    tr = opened()
    for text in (
        '{"type":"input_audio_buffer.append","audio":"AAAA"}',
        '{"type": "conversation.item.create", "item": {"type": "message"}}',
        '{"type":"response.create","response":{"instructions":"x"}}',
        '{"type":"some.future.event","x":1}',
    ):
        assert tr.from_client(text) is FORWARD


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "invalid_json"),
        ("[1,2]", "invalid_event"),
        ('{"no_type":1}', "invalid_event"),
        ('{"type":"session.update","session":"x","event_id":"e9"}', "invalid_type"),
        ('{"type":"session.update","event_id":"e9"}', "invalid_type"),
    ],
)
def test_bad_client_input_gets_error_event_and_nothing_goes_up(text: str, code: str) -> None:
    """Bad input gets an OpenAI-shaped error back; nothing is sent to Inworld."""
    [(where, event)] = decoded(opened().from_client(text), text, "upstream")
    assert where == "client"
    assert event["type"] == "error"
    assert event["error"]["code"] == code
    assert event["error"]["type"] == "invalid_request_error"
    if '"e9"' in text:
        assert event["error"]["event_id"] == "e9"


def test_binary_client_frame_gets_error() -> None:
    """A binary frame is refused the way OpenAI refuses it."""
    [(where, event)] = decoded(opened().from_client_binary(b"\x00\x01"))
    assert (where, event["error"]["code"]) == ("client", "invalid_event")


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"ping","event_id":"p","timestamp":1}',
        '{"errorType":"SESSION_RESOURCES_EXHAUSTED","message":"x"}',
        '{"type":"response.backchannel.audio.delta","delta":"AA"}',
        "garbage",
        "[]",
    ],
)
def test_upstream_frames_that_are_dropped(text: str) -> None:
    """Pings, type-less frames and Inworld-only events never reach the client."""
    assert opened().from_upstream(text) == ()


def test_inworld_only_events_pass_when_configured() -> None:
    """drop_inworld_only_events = false lets Inworld's extensions through."""
    text = '{"type":"response.backchannel.audio.delta","delta":"AA"}'
    assert opened(drop_inworld_only_events=False).from_upstream(text) is FORWARD


def test_audio_delta_is_forwarded_verbatim() -> None:
    """The hot path: audio deltas are passed as the same string."""
    text = '{"type":"response.output_audio.delta","response_id":"r","delta":"AAAA"}'
    assert opened().from_upstream(text) is FORWARD


@pytest.mark.parametrize(
    ("legacy", "ga"),
    [
        ("response.audio.delta", "response.output_audio.delta"),
        ("response.audio_transcript.done", "response.output_audio_transcript.done"),
        ("response.text.delta", "response.output_text.delta"),
        ("input_audio_transcription.delta", "conversation.item.input_audio_transcription.delta"),
    ],
)
def test_legacy_names_become_ga(legacy: str, ga: str) -> None:
    """Beta-style names Inworld has emitted are renamed to their GA names."""
    [(_, event)] = decoded(
        opened().from_upstream(dumps({"type": legacy, "delta": "x"})),
        dumps({"type": legacy, "delta": "x"}),
        "client",
    )
    assert event == {"type": ga, "delta": "x"}


def test_function_call_name_is_injected() -> None:
    """function_call_arguments.done gets the name from the matching output item."""
    tr = opened()
    added = {
        "type": "response.output_item.added",
        "item": {
            "id": "item_1",
            "type": "function_call",
            "name": "get_weather",
            "call_id": "call_1",
        },
    }
    tr.from_upstream(dumps(added))
    done = {"type": "response.function_call_arguments.done", "call_id": "call_1", "arguments": "{}"}
    [(_, event)] = decoded(tr.from_upstream(dumps(done)), dumps(done), "client")
    assert event["name"] == "get_weather"
    by_item = {"type": "response.function_call_arguments.done", "item_id": "item_1"}
    [(_, event)] = decoded(tr.from_upstream(dumps(by_item)), dumps(by_item), "client")
    assert event["name"] == "get_weather"


def test_existing_function_name_is_left_alone() -> None:
    """A done event that already has a name is forwarded untouched."""
    text = '{"type":"response.function_call_arguments.done","call_id":"c","name":"f"}'
    assert opened().from_upstream(text) is FORWARD


def test_top_level_usage_moves_into_response() -> None:
    """response.done with top-level usage gets it moved to response.usage."""
    done = {"type": "response.done", "response": {"id": "r"}, "usage": {"total_tokens": 5}}
    [(_, event)] = decoded(opened().from_upstream(dumps(done)), dumps(done), "client")
    assert event == {"type": "response.done", "response": {"id": "r", "usage": {"total_tokens": 5}}}


def test_response_create_voice_is_mapped() -> None:
    """A per-response voice in response.create is mapped too."""
    create = {"type": "response.create", "response": {"audio": {"output": {"voice": "shimmer"}}}}
    [(_, event)] = decoded(opened().from_client(dumps(create)), dumps(create), "upstream")
    assert event["response"]["audio"]["output"]["voice"] == "Luna"


def beta_opened() -> Translator:
    """A beta-dialect translator past session start-up."""
    tr = Translator(RULES, url_model="gpt-4o-realtime-preview", dialect="beta")
    tr.start()
    tr.from_upstream(dumps(CREATED))
    return tr


def test_beta_client_sees_beta_session_created() -> None:
    """A beta client's session.created is flat (voice at the top, no audio object)."""
    tr = Translator(RULES, url_model="gpt-4o-realtime-preview", dialect="beta")
    tr.start()
    tr.from_upstream(dumps(CREATED))
    [(_, event)] = decoded(tr.from_upstream(dumps(UPDATED)), dumps(UPDATED), "client")
    assert event["type"] == "session.created"
    assert event["session"]["voice"] == "alloy"
    assert "audio" not in event["session"]
    assert "type" not in event["session"]


def test_beta_session_update_goes_up_as_ga_and_mapped() -> None:
    """A flat beta session.update reaches Inworld nested, with Inworld names."""
    tr = beta_opened()
    update = {
        "type": "session.update",
        "session": {"voice": "coral", "modalities": ["text", "audio"]},
    }
    [(where, event)] = decoded(tr.from_client(dumps(update)), dumps(update), "upstream")
    assert where == "upstream"
    assert event["session"] == {
        "type": "realtime",
        "output_modalities": ["audio"],
        "audio": {"output": {"voice": "Olivia"}},
    }


def test_beta_audio_delta_renamed_on_fast_path() -> None:
    """Audio deltas reach a beta client as response.audio.delta."""
    tr = beta_opened()
    tr.from_upstream(dumps(UPDATED))
    [command] = tr.from_upstream('{"type":"response.output_audio.delta","delta":"AAAA"}')
    assert command == ToClient('{"type":"response.audio.delta","delta":"AAAA"}')


def test_ga_shaped_update_switches_beta_client_to_ga() -> None:
    """openai-node 5.17-5.23 sent the beta header with GA events: GA shape wins."""
    tr = beta_opened()
    update = {"type": "session.update", "session": {"type": "realtime", "audio": {}}}
    tr.from_client(dumps(update))
    assert tr.dialect == "ga"


def test_metadata_is_echoed_in_created_and_done() -> None:
    """response.create metadata comes back on response.created and response.done."""
    tr = opened()
    create = {"type": "response.create", "response": {"metadata": {"client_event_id": "c1"}}}
    tr.from_client(dumps(create))
    [(_, created)] = decoded(
        tr.from_upstream(dumps({"type": "response.created", "response": {"id": "r1"}})),
        dumps({"type": "response.created", "response": {"id": "r1"}}),
        "client",
    )
    assert created["response"]["metadata"] == {"client_event_id": "c1"}
    [(_, done)] = decoded(
        tr.from_upstream(dumps({"type": "response.done", "response": {"id": "r1"}})),
        dumps({"type": "response.done", "response": {"id": "r1"}}),
        "client",
    )
    assert done["response"]["metadata"] == {"client_event_id": "c1"}


def test_metadata_from_upstream_is_kept() -> None:
    """If Inworld echoes metadata itself, it is forwarded unchanged."""
    tr = opened()
    tr.from_client(dumps({"type": "response.create", "response": {"metadata": {"a": 1}}}))
    text = dumps({"type": "response.created", "response": {"id": "r1", "metadata": {"a": 2}}})
    assert tr.from_upstream(text) is FORWARD


def test_error_gets_client_event_id() -> None:
    """An upstream error without event_id points at the client event it answers."""
    tr = opened()
    tr.from_client(dumps({"type": "session.update", "event_id": "evt_s", "session": {}}))
    tr.from_client(dumps({"type": "response.create", "event_id": "evt_r"}))
    tr.from_client('{"type":"input_audio_buffer.append","audio":"AA","event_id":"evt_a"}')
    session_error = {"type": "error", "error": {"param": "session.model", "event_id": None}}
    [(_, event)] = decoded(tr.from_upstream(dumps(session_error)), dumps(session_error), "client")
    assert event["error"]["event_id"] == "evt_s"
    other = {"type": "error", "error": {"code": "x", "event_id": None}}
    [(_, event)] = decoded(tr.from_upstream(dumps(other)), dumps(other), "client")
    assert event["error"]["event_id"] == "evt_r"


def test_beta_transcription_session_update() -> None:
    """Beta transcription_session.update goes up as a no-response realtime session and its
    answer comes back as transcription_session.updated."""
    tr = beta_opened()
    tr.from_upstream(dumps(UPDATED))
    update = {
        "type": "transcription_session.update",
        "session": {"input_audio_transcription": {"model": "gpt-4o-transcribe"}},
    }
    [(_, up)] = decoded(tr.from_client(dumps(update)), dumps(update), "upstream")
    assert up["type"] == "session.update"
    assert up["session"]["type"] == "realtime"
    assert up["session"]["audio"]["input"]["turn_detection"]["create_response"] is False
    assert up["session"]["audio"]["input"]["transcription"]["model"] == "inworld/inworld-stt-1"
    answer = {
        "type": "session.updated",
        "session": {"audio": {"input": {"transcription": {"model": "inworld/inworld-stt-1"}}}},
    }
    [(_, down)] = decoded(tr.from_upstream(dumps(answer)), dumps(answer), "client")
    assert down["type"] == "transcription_session.updated"
    assert down["session"]["input_audio_transcription"]["model"] == "gpt-4o-transcribe"


def test_unnamed_transcription_model_shows_openais_default() -> None:
    """A transcription session whose client named no STT model is shown OpenAI's default,
    gpt-4o-transcribe, not Inworld's id; a realtime session keeps Inworld's id; a name the
    client used wins; echo_client_names off shows Inworld's id."""
    answer = {
        "type": "session.updated",
        "session": {"audio": {"input": {"transcription": {"model": "inworld/inworld-stt-1"}}}},
    }

    def shown(tr: Translator) -> str:
        [(_, down)] = decoded(tr.from_upstream(dumps(answer)), dumps(answer), "client")
        return str(down["session"]["audio"]["input"]["transcription"]["model"])

    def started(rules: Any = RULES, *, transcription: bool) -> Translator:
        tr = Translator(rules, transcription=transcription)
        tr.start()
        tr.from_upstream(dumps(CREATED))
        tr.from_upstream(dumps(UPDATED))
        return tr

    assert shown(started(transcription=True)) == "gpt-4o-transcribe"
    assert shown(started(transcription=False)) == "inworld/inworld-stt-1"
    named = started(transcription=True)
    audio = {"input": {"transcription": {"model": "whisper-1"}}}
    named.from_client(dumps({"type": "session.update", "session": {"audio": audio}}))
    assert shown(named) == "whisper-1"
    plain = dataclasses.replace(RULES, echo_client_names=False)
    assert shown(started(plain, transcription=True)) == "inworld/inworld-stt-1"


def test_content_labels_are_normalised_to_ga() -> None:
    """Item content becomes output_audio/output_text; content parts become audio/text."""
    tr = opened()
    item = {
        "type": "conversation.item.added",
        "item": {"role": "assistant", "content": [{"type": "audio", "transcript": ""}]},
    }
    [(_, event)] = decoded(tr.from_upstream(dumps(item)), dumps(item), "client")
    assert event["item"]["content"] == [{"type": "output_audio", "transcript": ""}]
    part = {"type": "response.content_part.added", "part": {"type": "output_text", "text": ""}}
    [(_, event)] = decoded(tr.from_upstream(dumps(part)), dumps(part), "client")
    assert event["part"]["type"] == "text"
    done = {
        "type": "response.done",
        "response": {"output": [{"role": "assistant", "content": [{"type": "text"}]}]},
    }
    [(_, event)] = decoded(tr.from_upstream(dumps(done)), dumps(done), "client")
    assert event["response"]["output"][0]["content"] == [{"type": "output_text"}]
    user = {
        "type": "conversation.item.added",
        "item": {"role": "user", "content": [{"type": "input_audio"}]},
    }
    text = dumps(user)
    assert tr.from_upstream(text) is FORWARD

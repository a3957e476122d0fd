"""Every server event a client receives through the proxy validates against the client SDK's
own schema: openai-python's GA `RealtimeServerEvent` union for GA clients, and its beta union
(`openai.types.beta.realtime`, while the installed SDK ships it) for beta-dialect clients.

Each flow runs through the real proxy to the real emulator on loopback, as a plain WebSocket
client that keeps every event it received (`tests.support.scripted.Client`); every one of them
is then validated with a pydantic `TypeAdapter`, as the OpenAI Agents SDK does. A failure lists
each event's type with pydantic's error. Flows: text turn, committed audio turn, server-VAD
turn, barge-in, tool call and output, item create/retrieve/truncate/delete, buffer clear,
response.cancel, transcription-only session, errors.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import aiohttp
import pydantic
import pytest
from openai.types.realtime import RealtimeServerEvent

from proxy.emulator import EmulatorSettings, pcm16_silence, pcm16_tone
from tests.support.scripted import Client, b64
from tests.support.stack import KEY, SECRET, Stack


def adapter(union: Any) -> pydantic.TypeAdapter[Any]:
    """A validator for an SDK's server-event union, discriminated by `type` as the Agents SDK
    builds it (one precise error per refused event)."""
    return pydantic.TypeAdapter(Annotated[union, pydantic.Field(discriminator="type")])


GA_ADAPTER = adapter(RealtimeServerEvent)
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
USER_TEXT = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}


def beta_adapter() -> pydantic.TypeAdapter[Any] | None:
    """The SDK's beta server-event union, or None once the installed SDK no longer ships it."""
    try:
        module = importlib.import_module("openai.types.beta.realtime")
    except ImportError:
        return None
    union = getattr(module, "RealtimeServerEvent", None)
    return None if union is None else adapter(union)


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    """Paced responses (a cancel or barge-in lands mid-stream), frequent pings (dropped)."""
    return EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0.05, response_pace=0.01)


@dataclass(frozen=True)
class Dialect:
    """What a flow needs to know about the client's dialect: its handshake, its session
    fields, and the event names it receives."""

    name: str
    adapter: pydantic.TypeAdapter[Any]

    @property
    def ga(self) -> bool:
        return self.name == "ga"

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.ga else {"OpenAI-Beta": "realtime=v1"}

    def session(
        self,
        *,
        turn_detection: Any = None,
        transcribe: bool = True,
        text_only: bool = False,
        tools: list[Any] | None = None,
    ) -> dict[str, Any]:
        """A `session.update` session in this dialect."""
        transcription = {"model": "whisper-1"} if transcribe else None
        extra: dict[str, Any] = {"tools": tools, "tool_choice": "auto"} if tools else {}
        if self.ga:
            modalities = {"output_modalities": ["text"]} if text_only else {}
            audio = {"input": {"transcription": transcription, "turn_detection": turn_detection}}
            return {"type": "realtime", "audio": audio, **modalities, **extra}
        modalities = {"modalities": ["text"]} if text_only else {}
        return {
            "input_audio_transcription": transcription,
            "turn_detection": turn_detection,
            **modalities,
            **extra,
        }

    def text_response(self) -> dict[str, Any]:
        """A `response.create` response asking for text only."""
        return {"output_modalities": ["text"]} if self.ga else {"modalities": ["text"]}

    @property
    def audio_delta(self) -> str:
        return "response.output_audio.delta" if self.ga else "response.audio.delta"

    @property
    def item_created(self) -> str:
        return "conversation.item.added" if self.ga else "conversation.item.created"


def dialects() -> list[Any]:
    beta = beta_adapter()
    reason = "the installed openai SDK no longer ships openai.types.beta.realtime"
    return [
        pytest.param(Dialect("ga", GA_ADAPTER), id="ga"),
        pytest.param(
            Dialect("beta", beta or GA_ADAPTER),
            id="beta",
            marks=pytest.mark.skipif(beta is None, reason=reason),
        ),
    ]


@contextlib.asynccontextmanager
async def connect(url: Any, d: Dialect, first: str = "session.created") -> AsyncIterator[Client]:
    """A client of dialect `d` connected to the proxy, once its first event has arrived."""
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=d.headers) as ws:
        client = Client(ws)
        await client.until(first)
        yield client


def sdk_view(event: dict[str, Any]) -> dict[str, Any]:
    """The event as openai-python's beta types can take it. Its beta `TranscriptionSession`
    marks `client_secret` required, though OpenAI's reference says WebSocket events never carry
    it (docs/protocol-notes.md#openai-transcription): only that field is filled in, in a copy,
    the way the Agents SDK patches `previous_item_id` before validating."""
    session = event.get("session")
    if event.get("type") != "transcription_session.updated" or not isinstance(session, dict):
        return event
    assert "client_secret" not in session  # the proxy never makes one up
    return {**event, "session": {**session, "client_secret": {"value": "", "expires_at": 0}}}


def schema_errors(adapter: pydantic.TypeAdapter[Any], events: list[dict[str, Any]]) -> list[str]:
    """One line per event the SDK's schema refuses: its type and pydantic's error."""
    out = []
    for event in events:
        try:
            adapter.validate_python(sdk_view(event))
        except pydantic.ValidationError as exc:
            out.append(f"{event.get('type')}: {exc}")
    return out


def types(events: list[dict[str, Any]]) -> list[str]:
    return [str(e.get("type")) for e in events]


async def speak(client: Client, tone_ms: int = 300, silence_ms: int = 300) -> None:
    """Tone then silence, in 100 ms appends (each its own frame, as real clients stream)."""
    for at in range(0, tone_ms, 100):
        await client.send(
            type="input_audio_buffer.append", audio=b64(pcm16_tone(100, offset_ms=at))
        )
    for _ in range(0, silence_ms, 100):
        await client.send(type="input_audio_buffer.append", audio=b64(pcm16_silence(100)))


# -- flows: each runs one scenario and checks what it must have produced --------------------


async def text_turn(client: Client, d: Dialect) -> None:
    await client.send(type="conversation.item.create", item=USER_TEXT)
    await client.send(type="response.create")
    done = (await client.until("response.done"))[-1]
    assert done["response"]["status"] == "completed"
    await client.send(type="conversation.item.create", item=USER_TEXT)
    await client.send(type="response.create", response=d.text_response())
    events = await client.until("response.done")
    assert ("response.output_text.delta" if d.ga else "response.text.delta") in types(events)


async def committed_audio_turn(client: Client, d: Dialect) -> None:
    await client.send(type="session.update", session=d.session(turn_detection=None))
    await client.until("session.updated")
    await speak(client, 300, 200)
    await client.send(type="input_audio_buffer.commit")
    events = await client.until("conversation.item.input_audio_transcription.completed")
    usage = events[-1]["usage"]
    assert usage["type"] == "duration"
    assert usage["seconds"] == pytest.approx(0.5)  # all the audio relayed for the item
    await client.send(type="response.create")
    events = await client.until("response.done")
    assert events[-1]["response"]["status"] == "completed"


async def server_vad_turn(client: Client, d: Dialect) -> None:
    vad = {"type": "server_vad", "silence_duration_ms": 200}
    await client.send(type="session.update", session=d.session(turn_detection=vad))
    await client.until("session.updated")
    await speak(client, 300, 300)
    events = await client.until("response.done")
    assert "input_audio_buffer.speech_stopped" in types(events)
    [completed] = [
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    assert completed["usage"]["type"] == "duration"
    assert 0 < completed["usage"]["seconds"] <= 0.6


async def barge_in(client: Client, d: Dialect) -> None:
    await client.send(type="conversation.item.create", item=USER_TEXT)
    await client.send(type="response.create")
    await client.until(d.audio_delta)
    await speak(client, 100, 0)
    events = await client.until("response.done")
    assert events[-1]["response"]["status_details"]["reason"] == "turn_detected"


async def tool_call(client: Client, d: Dialect) -> None:
    await client.send(type="session.update", session=d.session(tools=[TOOL], text_only=True))
    await client.until("session.updated")
    ask = {**USER_TEXT, "content": [{"type": "input_text", "text": "Weather? get_weather"}]}
    await client.send(type="conversation.item.create", item=ask)
    await client.send(type="response.create")
    events = await client.until("response.done")
    [args] = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert args["name"] == "get_weather"
    output = {"type": "function_call_output", "call_id": args["call_id"], "output": "sunny"}
    await client.send(type="conversation.item.create", item=output)
    await client.until(d.item_created)
    await client.send(type="response.create")
    events = await client.until("response.done")
    assert events[-1]["response"]["status"] == "completed"


async def item_operations(client: Client, d: Dialect) -> None:
    await client.send(type="conversation.item.create", item={**USER_TEXT, "id": "item_user1"})
    await client.until(d.item_created)
    await client.send(type="conversation.item.retrieve", item_id="item_user1")
    await client.until("conversation.item.retrieved")
    await client.send(type="response.create")
    events = await client.until("response.done")
    assistant = events[-1]["response"]["output"][0]["id"]
    truncate = {"item_id": assistant, "content_index": 0, "audio_end_ms": 100}
    await client.send(type="conversation.item.truncate", **truncate)
    await client.until("conversation.item.truncated")
    await client.send(type="conversation.item.delete", item_id="item_user1")
    await client.until("conversation.item.deleted")


async def buffer_clear(client: Client, d: Dialect) -> None:
    await client.send(type="session.update", session=d.session(turn_detection=None))
    await client.until("session.updated")
    await speak(client, 200, 0)
    await client.send(type="input_audio_buffer.clear")
    events = await client.until("input_audio_buffer.cleared")
    assert "input_audio_buffer.speech_started" not in types(events)  # turn_detection: null


async def response_cancel(client: Client, d: Dialect) -> None:
    await client.send(type="conversation.item.create", item=USER_TEXT)
    await client.send(type="response.create")
    await client.until(d.audio_delta)
    await client.send(type="response.cancel")
    events = await client.until("response.done")
    assert events[-1]["response"]["status"] == "cancelled"


async def errors(client: Client, d: Dialect) -> None:
    await client.ws.send_str("not json")
    await client.until("error")
    await client.ws.send_str("[1]")
    await client.until("error")
    bad = {"audio": {"output": {"voice": 5}}} if d.ga else {"voice": 5}
    await client.send(type="session.update", event_id="evt_bad", session=bad)
    assert (await client.until("error"))[-1]["error"]["event_id"] == "evt_bad"
    await client.send(type="response.cancel", event_id="evt_cancel")
    assert (await client.until("error"))[-1]["error"]["code"] == "response_cancel_not_active"
    await client.send(type="conversation.item.retrieve", item_id="item_nope")
    await client.until("error")
    await client.send(type="input_audio_buffer.commit")
    await client.until("error")


FLOWS: dict[str, Callable[[Client, Dialect], Awaitable[None]]] = {
    "text_turn": text_turn,
    "committed_audio_turn": committed_audio_turn,
    "server_vad_turn": server_vad_turn,
    "barge_in": barge_in,
    "tool_call": tool_call,
    "item_operations": item_operations,
    "buffer_clear": buffer_clear,
    "response_cancel": response_cancel,
    "errors": errors,
}


@pytest.mark.parametrize("dialect", dialects())
@pytest.mark.parametrize("flow", list(FLOWS))
async def test_flow_events_validate(stack: Stack, dialect: Dialect, flow: str) -> None:
    """Every event of the flow validates against the dialect's SDK union (checked first, so
    a flow that fails on a missing field still reports what the SDK refused)."""
    url = stack.proxy.make_url("/v1/realtime?model=gpt-realtime")
    failed: Exception | None = None
    async with connect(url, dialect) as client:
        try:
            await FLOWS[flow](client, dialect)
        except Exception as exc:  # reported after the schema check
            failed = exc
    refused = schema_errors(dialect.adapter, client.events)
    assert not refused, "\n".join(refused)
    if failed is not None:
        raise failed
    assert len(client.events) > 2


@pytest.mark.parametrize("dialect", dialects())
async def test_transcription_session_events_validate(stack: Stack, dialect: Dialect) -> None:
    """A transcription-only session (`?intent=transcription`): transcripts with usage, no
    response, every event valid."""
    url = stack.proxy.make_url("/v1/realtime?intent=transcription")
    vad = {"type": "server_vad", "silence_duration_ms": 200}
    # a beta transcription session starts with transcription_session.updated (the beta SDK
    # union has no transcription_session.created)
    first = "session.created" if dialect.ga else "transcription_session.updated"
    async with connect(url, dialect, first) as client:
        if dialect.ga:
            audio = {
                "input": {"transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": vad}
            }
            await client.send(
                type="session.update", session={"type": "transcription", "audio": audio}
            )
            await client.until("session.updated")
        else:
            update = {"input_audio_transcription": {"model": "whisper-1"}, "turn_detection": vad}
            await client.send(type="transcription_session.update", session=update)
            await client.until("transcription_session.updated")
        await speak(client, 300, 300)
        events = await client.until("conversation.item.input_audio_transcription.completed")
    refused = schema_errors(dialect.adapter, client.events)
    assert not refused, "\n".join(refused)
    assert events[-1]["usage"]["type"] == "duration"
    assert not [e for e in client.events if e["type"].startswith("response.")]


def test_schema_errors_names_type_and_pydantic_error() -> None:
    """The check itself: an event the GA schema refuses is reported with its type and the
    field pydantic names (so a green run means every event really was validated)."""
    bad = {
        "type": "conversation.item.input_audio_transcription.completed",
        "event_id": "e1",
        "item_id": "i1",
        "content_index": 0,
        "transcript": "hi",
    }
    [line] = schema_errors(GA_ADAPTER, [bad])
    assert line.startswith("conversation.item.input_audio_transcription.completed: ")
    assert "usage" in line
    assert schema_errors(GA_ADAPTER, [{**bad, "usage": {"type": "duration", "seconds": 1.0}}]) == []
    assert schema_errors(GA_ADAPTER, [{"type": "ping", "event_id": "p"}])

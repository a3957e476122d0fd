"""WebRTC calls end to end: a real aiortc client, the proxy, the emulator, all on loopback.

The client does what OpenAI's browser flow does (tests/support/webrtc.py); the emulator plays
Inworld. Each test asserts what the client sees on its data channel and hears on its track.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from proxy.config import Config
from proxy.emulator import (
    EMULATOR_PATH,
    EMULATOR_SESSIONS,
    EmulatorSettings,
    create_emulator_app,
    pcm16_silence,
    pcm16_tone,
)
from proxy.web.app import create_app
from proxy.web.calls import CALLS
from tests.support.scripted import EndedSessions
from tests.support.stack import KEY, SECRET, proxy_config
from tests.support.webrtc import loopback_config, metric_sum, rtc_call

VAD = {
    "type": "realtime",
    "audio": {
        "input": {
            "transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 200},
        },
        "output": {"voice": "marin"},
    },
}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@dataclasses.dataclass
class Bridge:
    """The emulator and a proxy whose calls use loopback ICE."""

    emulator: TestServer
    proxy: TestServer
    registry: CollectorRegistry

    def url(self, path: str = "/v1/realtime/calls") -> Any:
        return self.proxy.make_url(path)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels`."""
        return metric_sum(self.registry, name, **labels)


@pytest.fixture
def start_bridge(aiohttp_server: Any) -> Any:
    async def start(**limits: Any) -> Bridge:
        settings = EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0)
        emulator = await aiohttp_server(create_emulator_app(settings))
        url = str(emulator.make_url(EMULATOR_PATH)).replace("http", "ws", 1)
        cfg: Config = loopback_config(proxy_config(url))
        if limits:
            cfg = dataclasses.replace(cfg, limits=dataclasses.replace(cfg.limits, **limits))
        registry = CollectorRegistry()
        app = create_app(cfg, registry=registry, logger=structlog.get_logger("test"))
        return Bridge(emulator, await aiohttp_server(app), registry)

    return start


@pytest.fixture
async def bridge(start_bridge: Any) -> Bridge:
    result: Bridge = await start_bridge()
    return result


async def test_spoken_turn_by_server_vad(bridge: Bridge) -> None:
    """A spoken turn: session.created first, the reply heard on the track and never sent as
    deltas, output_audio_buffer.started/stopped around response.done, one log line pair,
    metrics labelled transport=webrtc."""
    ends = EndedSessions(bridge.proxy.app)
    with structlog.testing.capture_logs() as logs:
        async with rtc_call(bridge.url(), session=VAD) as client:
            await client.until("session.created")
            assert client.events[0]["type"] == "session.created"
            assert client.events[0]["session"]["audio"]["output"]["voice"] == "marin"
            spoke = client.mic.sent_at
            client.mic.say(pcm16_tone(400) + pcm16_silence(500))
            events = await client.until("output_audio_buffer.stopped")
            types = [e["type"] for e in events]
            assert "response.output_audio.delta" not in client.types()
            assert types.index("input_audio_buffer.speech_started") < types.index("response.done")
            started = types.index("output_audio_buffer.started")
            assert types.index("response.content_part.added") < started
            assert types.index("response.done") < types.index("output_audio_buffer.stopped")
            done = next(e for e in events if e["type"] == "response.done")
            rid = done["response"]["id"]
            buffer_events = [e for e in events if e["type"].startswith("output_audio_buffer.")]
            assert {e["response_id"] for e in buffer_events} == {rid}
            assert client.loud_frames(since=spoke[0][0]) >= 10  # at least 200 ms of the reply
        await ends.wait()
    names = [r["event"] for r in logs]
    assert names.count("session_start") == 1
    assert names.count("session_end") == 1
    [end] = [r for r in logs if r["event"] == "session_end"]
    assert end["transport"] == "webrtc"
    assert end["turns"] == 1
    assert end["inbound_received"] > 0
    labels = {"transport": "webrtc"}
    assert (
        bridge.metric("inworld_proxy_turn_latency_seconds_count", model="openai/gpt-5.5", **labels)
        == 1
    )
    assert (
        bridge.metric("inworld_proxy_audio_seconds_total", direction="client_to_upstream", **labels)
        > 0.5
    )
    assert (
        bridge.metric("inworld_proxy_audio_seconds_total", direction="upstream_to_client", **labels)
        > 0.5
    )
    assert bridge.metric("inworld_proxy_sessions_active", protocol="realtime", **labels) == 0
    assert bridge.metric("inworld_proxy_webrtc_packets_total", direction="inbound") > 0


async def test_tool_call_over_the_data_channel(bridge: Bridge) -> None:
    """A function call goes out with its name; its output comes back into the reply."""
    session = {"type": "realtime", "tools": [WEATHER], "tool_choice": "auto"}
    async with rtc_call(bridge.url(), session=session) as client:
        await client.until("session.created")
        item = {"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "get_weather in Paris"}]}  # fmt: skip
        client.send(type="conversation.item.create", item=item)
        client.send(type="response.create")
        events = await client.until("response.done")
        [args] = [e for e in events if e["type"] == "response.function_call_arguments.done"]
        assert args["name"] == "get_weather"
        output = {"type": "function_call_output", "call_id": args["call_id"], "output": "sunny"}
        start = len(client.events)
        client.send(type="conversation.item.create", item=output)
        client.send(type="response.create")
        events = await client.until("response.done", start)
        text = "".join(e.get("delta", "") for e in events if e["type"].endswith("transcript.delta"))
        assert text == "The tool returned: sunny"


async def test_barge_in_drops_the_queued_audio(bridge: Bridge) -> None:
    """Speech over the reply: `cleared` right after `speech_started`, the interrupted item is
    truncated to what was played, and the track goes silent at once."""
    session = {**VAD, "instructions": "Answer at length."}
    async with rtc_call(bridge.url(), session=session) as client:
        await client.until("session.created")
        client.mic.say(pcm16_tone(300) + pcm16_silence(400))
        await client.until("output_audio_buffer.started")
        await asyncio.sleep(0.3)  # let some of the reply be heard (the test's own pacing)
        mark = len(client.events)
        client.mic.say(pcm16_tone(400) + pcm16_silence(400))
        events = await client.until("conversation.item.truncated", mark)
        types = [e["type"] for e in events]
        assert types.index("input_audio_buffer.speech_started") + 1 == types.index(
            "output_audio_buffer.cleared"
        )
        truncated = events[-1]
        assert 200 <= truncated["audio_end_ms"] < 2000
        cleared_at = client.time_of("output_audio_buffer.cleared", mark)
        next_start = len(client.events)
        await client.until("output_audio_buffer.started", next_start)  # the new reply
        restarted = client.time_of("output_audio_buffer.started", next_start)
        # what the proxy had sent is still heard for the client's own jitter buffer (aiortc
        # holds 4 packets, 80 ms) and decoder; nothing after that until the next reply
        assert (
            client.loud_frames(since=cleared_at + 0.25) - client.loud_frames(since=restarted) == 0
        )
    assert bridge.metric(
        "inworld_proxy_barge_ins_total", model="openai/gpt-5.5", trigger="turn_detected",
        transport="webrtc",
    ) == 1  # fmt: skip


async def test_client_clear_truncates_and_silences(bridge: Bridge) -> None:
    """The Agents SDK's interrupt: response.cancel + output_audio_buffer.clear."""
    async with rtc_call(bridge.url(), session={"type": "realtime"}) as client:
        await client.until("session.created")
        item = {"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "tell me a long story"}]}  # fmt: skip
        client.send(type="conversation.item.create", item=item)
        client.send(type="response.create")
        await client.until("output_audio_buffer.started")
        await asyncio.sleep(0.2)
        mark = len(client.events)
        client.send(type="response.cancel")
        client.send(type="output_audio_buffer.clear")
        events = await client.until("output_audio_buffer.cleared", mark)
        assert events[-1]["response_id"] is not None
        truncated = await client.until("conversation.item.truncated", mark)
        assert truncated[-1]["audio_end_ms"] >= 100
        assert "output_audio_buffer.stopped" not in [e["type"] for e in client.events[mark:]]


async def test_hangup_and_limits(start_bridge: Any) -> None:
    """A call counts against max_sessions; hangup ends it; unknown ids are 404."""
    bridge = await start_bridge(max_sessions=1)
    ends = EndedSessions(bridge.proxy.app)
    async with rtc_call(bridge.url()) as client:
        await client.until("session.created")
        async with aiohttp.ClientSession() as http:
            async with http.post(
                bridge.url(), data=b"v=0", headers={"Content-Type": "application/sdp"}
            ) as second:
                assert second.status == 400  # a bad offer is refused before the limit
            assert client.location is not None
            async with http.post(bridge.url(f"{client.location}/hangup")) as hung:
                assert hung.status == 200
            async with http.post(bridge.url("/v1/realtime/calls/rtc_0/hangup")) as unknown:
                assert unknown.status == 404
                assert (await unknown.json())["error"]["code"] == "call_not_found"
        await ends.wait()
    assert not bridge.proxy.app[CALLS].calls
    assert not bridge.emulator.app[EMULATOR_SESSIONS] or all(
        r.closed for r in bridge.emulator.app[EMULATOR_SESSIONS].values()
    )

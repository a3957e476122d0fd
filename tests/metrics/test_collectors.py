"""proxy.metrics.collectors: values after scripted sessions through the proxy to the emulator."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from asyncio.subprocess import PIPE
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry, generate_latest

from proxy.emulator import EmulatorSettings, pcm16_silence, pcm16_tone
from proxy.metrics.collectors import Metrics, close_code_class, session_outcome
from proxy.web.app import create_app
from proxy.web.appkeys import LIFECYCLE
from tests.support.scripted import SERVER_VAD, EndedSessions, b64, session
from tests.support.stack import KEY, SECRET, Stack, proxy_config

MODEL = "openai/gpt-5.5"  # what gpt-realtime maps to by default
UP, DOWN = "client_to_upstream", "upstream_to_client"
WS = "websocket"  # the `transport` label of every session here


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    """Paced responses (so a cancel lands mid-stream), pings off (exact message counts)."""
    return EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0, response_pace=0.01)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value (0 when absent)."""
    return registry.get_sample_value(name, labels) or 0.0


def realtime_url(stack: Stack) -> Any:
    return stack.proxy.make_url("/v1/realtime?model=gpt-realtime")


async def test_spoken_turn_metrics(stack: Stack) -> None:
    """A server-VAD spoken turn: one turn latency, tokens, audio seconds, messages, session."""
    reg, ends = stack.registry, EndedSessions(stack.proxy.app)
    async with session(realtime_url(stack)) as client:
        assert value(reg, "inworld_proxy_sessions_active", transport=WS, protocol="realtime") == 1
        await client.send(type="session.update", session=SERVER_VAD)
        await client.until("session.updated")
        events = await client.spoken_turn()
        done = events[-1]
        assert done["response"]["status"] == "completed"
        deltas = [e for e in events if e["type"] == "response.output_audio.delta"]
    await ends.wait()

    assert value(reg, "inworld_proxy_turn_latency_seconds_count", model=MODEL, transport=WS) == 1
    assert 0 < value(reg, "inworld_proxy_turn_latency_seconds_sum", model=MODEL, transport=WS) < 5
    assert value(reg, "inworld_proxy_first_text_latency_seconds_count", model=MODEL) == 1
    duration = "inworld_proxy_response_duration_seconds_count"
    assert value(reg, duration, model=MODEL, status="completed") == 1
    usage = done["response"]["usage"]
    tokens = {
        kind: value(reg, "inworld_proxy_tokens_total", model=MODEL, kind=kind)
        for kind in ("input_text", "input_audio", "input_other", "output_text", "output_audio")
    }
    assert sum(tokens.values()) == usage["input_tokens"] + usage["output_tokens"] > 0
    out_details = usage["output_token_details"]
    assert tokens["output_audio"] == out_details["audio_tokens"]
    audio = "inworld_proxy_audio_seconds_total"
    assert value(reg, audio, direction=UP, transport=WS) == pytest.approx(0.6)
    pcm_out = sum(len(base64.b64decode(d["delta"])) for d in deltas)
    assert value(reg, audio, direction=DOWN, transport=WS) == pytest.approx(pcm_out / 48_000)
    messages = "inworld_proxy_messages_total"
    assert value(reg, messages, direction=UP, event_type="input_audio_buffer.append") == 2
    assert value(reg, messages, direction=UP, event_type="session.update") == 1
    audio_type = "response.output_audio.delta"
    assert value(reg, messages, direction=DOWN, event_type=audio_type) == len(deltas)
    assert value(
        reg, "inworld_proxy_message_bytes_total", direction=DOWN, event_type=audio_type
    ) > (pcm_out * 4 / 3)
    rewrites = "inworld_proxy_rewrites_total"
    assert value(reg, rewrites, kind="initial_session_update") == 1
    assert value(reg, rewrites, kind="session_update") == 1
    assert value(reg, rewrites, kind="session_created_handoff") == 1
    labels = {
        "outcome": "client_closed",
        "close_code_class": "normal",
        "dialect": "ga",
        "transport": WS,
        "protocol": "realtime",
    }
    assert value(reg, "inworld_proxy_sessions_total", **labels) == 1
    assert value(reg, "inworld_proxy_sessions_active", transport=WS, protocol="realtime") == 0
    assert value(reg, "inworld_proxy_session_duration_seconds_count") == 1
    assert value(reg, "inworld_proxy_upstream_connect_seconds_count") == 1
    assert value(reg, "inworld_proxy_errors_total", source="upstream", code="none") == 0


async def test_counters_are_live_and_monotonic(stack: Stack) -> None:
    """Per-frame counters show during a session and do not drop when it ends."""
    reg, ends = stack.registry, EndedSessions(stack.proxy.app)
    name, labels = "inworld_proxy_messages_total", {"direction": UP, "event_type": "other"}
    async with session(realtime_url(stack)) as client:
        await client.ws.send_str("not json")
        await client.until("error")  # the proxy counted the frame before answering it
        during = value(reg, name, **labels)
        assert during == 1
    await ends.wait()
    assert value(reg, name, **labels) == during


async def test_barge_ins_by_client_cancel_and_by_speech(stack: Stack) -> None:
    """response.cancel mid-response and speech over a response each count one barge-in."""
    reg, ends = stack.registry, EndedSessions(stack.proxy.app)
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    async with session(realtime_url(stack)) as client:
        await client.send(type="conversation.item.create", item=item)
        await client.send(type="response.create")
        await client.until("response.output_audio.delta")
        await client.send(type="response.cancel")
        events = await client.until("response.done")
        assert events[-1]["response"]["status"] == "cancelled"
        await client.send(type="response.create")
        await client.until("response.output_audio.delta")
        await client.send(type="input_audio_buffer.append", audio=b64(pcm16_tone(100)))
        events = await client.until("response.done")
        assert events[-1]["response"]["status_details"]["reason"] == "turn_detected"
    await ends.wait()
    barge = "inworld_proxy_barge_ins_total"
    assert value(reg, barge, model=MODEL, trigger="client_cancel", transport=WS) == 1
    assert value(reg, barge, model=MODEL, trigger="turn_detected", transport=WS) == 1
    duration = "inworld_proxy_response_duration_seconds_count"
    assert value(reg, duration, model=MODEL, status="cancelled") == 2
    # two response.create marks, two responses with audio: two turn latencies
    assert value(reg, "inworld_proxy_turn_latency_seconds_count", model=MODEL, transport=WS) == 2


async def test_overhead_is_sampled_one_in_64(stack: Stack) -> None:
    """128 client messages give exactly two overhead samples for that direction."""
    reg, ends = stack.registry, EndedSessions(stack.proxy.app)
    name = "inworld_proxy_message_overhead_seconds_count"
    async with session(realtime_url(stack)) as client:
        for _ in range(128):
            await client.send(type="input_audio_buffer.append", audio=b64(pcm16_silence(10)))
    await ends.wait()
    assert value(reg, name, direction=UP) == 2


def test_overhead_series_exist_from_start_and_take_any_direction() -> None:
    """Both directions' overhead series are exported at zero before any message (so a rate()
    over them is defined from the first scrape), and a direction not created up front still
    gets its own series."""
    reg = CollectorRegistry()
    metrics = Metrics(reg)
    name = "inworld_proxy_message_overhead_seconds_count"
    assert reg.get_sample_value(name, {"direction": UP}) == 0.0
    assert reg.get_sample_value(name, {"direction": DOWN}) == 0.0
    metrics.observe_overhead(DOWN, 0.001)
    metrics.observe_overhead("elsewhere", 0.002)
    assert value(reg, name, direction=DOWN) == 1
    assert value(reg, name, direction="elsewhere") == 1
    assert value(reg, name, direction=UP) == 0


async def test_audio_of_varying_chunk_sizes_is_counted_exactly(stack: Stack) -> None:
    """Appends of changing sizes over a real socket (each by the hot lane or the full path,
    as the reads fall; `test_hot_lane` pins which): audio seconds and counts are exact, with
    or without an event_id."""
    reg, ends = stack.registry, EndedSessions(stack.proxy.app)
    chunks_ms = [20, 20, 20, 10, 10, 20, 15, 15, 15, 20]
    async with session(realtime_url(stack)) as client:
        for i, ms in enumerate(chunks_ms):
            extra = {"event_id": f"evt_{i}"} if ms == 15 else {}
            await client.send(
                type="input_audio_buffer.append", audio=b64(pcm16_silence(ms)), **extra
            )
        await client.send(type="input_audio_buffer.clear")
        await client.until("input_audio_buffer.cleared")
    await ends.wait()
    audio = value(reg, "inworld_proxy_audio_seconds_total", direction=UP, transport=WS)
    assert audio == pytest.approx(sum(chunks_ms) / 1000)
    appends = value(
        reg, "inworld_proxy_messages_total", direction=UP, event_type="input_audio_buffer.append"
    )
    assert appends == len(chunks_ms)


async def test_client_errors_are_counted(stack: Stack) -> None:
    """A frame that is not JSON counts as a client error and an 'other' message."""
    reg, ends = stack.registry, EndedSessions(stack.proxy.app)
    async with session(realtime_url(stack)) as client:
        await client.ws.send_str("not json")
        await client.until("error")
    await ends.wait()
    assert value(reg, "inworld_proxy_errors_total", source="client", code="invalid_json") == 1
    assert value(reg, "inworld_proxy_messages_total", direction=UP, event_type="other") == 1


async def test_handshake_failure_metrics(fake_upstream: Any, start_proxy: Any) -> None:
    """A 401 at the upstream handshake: failure by status, error, session outcome and class."""
    _, url = await fake_upstream(status=401)
    registry = CollectorRegistry()
    proxy = await start_proxy(proxy_config(url), registry)
    ends = EndedSessions(proxy.app)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(proxy.make_url("/v1/realtime")) as ws,
    ):
        async with asyncio.timeout(5):
            async for _ in ws:
                pass
    await ends.wait()
    assert value(registry, "inworld_proxy_upstream_handshake_failures_total", status="401") == 1
    errors = "inworld_proxy_errors_total"
    assert value(registry, errors, source="handshake", code="upstream_unauthorized") == 1
    labels = {
        "outcome": "handshake_failed",
        "close_code_class": "policy",
        "dialect": "ga",
        "transport": WS,
        "protocol": "realtime",
    }
    assert value(registry, "inworld_proxy_sessions_total", **labels) == 1
    assert value(registry, "inworld_proxy_upstream_connect_seconds_count") == 0


def test_label_helpers() -> None:
    """Close codes map to bounded classes; outcomes name who ended the session and how."""
    assert [close_code_class(c) for c in (None, 1000, 1006, 1011, 1013, 1002, 3000, 4000)] == [
        "none", "normal", "abnormal", "internal_error", "try_again_later", "protocol",
        "registered", "application",
    ]  # fmt: skip
    assert session_outcome("client") == "client_closed"
    assert session_outcome("upstream", upstream_code=1000) == "upstream_closed"
    assert session_outcome("upstream", upstream_code=1006) == "upstream_error"
    assert session_outcome("upstream", handshake_failed=True) == "handshake_failed"
    assert session_outcome("proxy") == "proxy_closed"


def test_every_name_has_the_prefix_and_conventions() -> None:
    """All families start with inworld_proxy_; counters end _total; no session id label."""
    registry = CollectorRegistry()
    create_app(proxy_config("ws://127.0.0.1:1/x"), registry=registry, logger=None)  # type: ignore[arg-type]
    families = list(registry.collect())
    assert families
    for family in families:
        assert family.name.startswith("inworld_proxy_"), family.name
        for sample in family.samples:
            assert "session" not in "".join(sample.labels), sample
    text = generate_latest(registry).decode()
    assert "inworld_proxy_messages_total" in text or "# TYPE inworld_proxy_messages counter" in text


async def test_readyz_reflects_start_up() -> None:
    """/readyz is 503 'starting' until start-up is done, then ready with the config loaded."""
    app = create_app(proxy_config("ws://127.0.0.1:1/x"), registry=CollectorRegistry(), logger=None)  # type: ignore[arg-type]
    handler = next(
        r.handler for r in app.router.routes() if r.resource and r.resource.canonical == "/readyz"
    )
    response = await handler(make_mocked_request("GET", "/readyz", app=app))
    assert response.status == 503
    app[LIFECYCLE].accepting = True
    response = await handler(make_mocked_request("GET", "/readyz", app=app))
    assert response.status == 200


def promtool() -> str | None:
    """Path of promtool; skipping without it is allowed only outside CI."""
    path = shutil.which("promtool")
    if path is None and os.environ.get("CI"):
        pytest.fail("promtool is required in CI (Debian package 'prometheus')")
    return path


async def test_promtool_check_metrics(stack: Stack) -> None:
    """`promtool check metrics` accepts /metrics after a spoken turn."""
    tool = promtool()
    if tool is None:
        pytest.skip("promtool not installed (Debian package 'prometheus')")
    ends = EndedSessions(stack.proxy.app)
    async with session(realtime_url(stack)) as client:
        await client.send(type="session.update", session=SERVER_VAD)
        await client.until("session.updated")
        await client.spoken_turn()
    await ends.wait()
    async with aiohttp.ClientSession() as http, http.get(stack.proxy.make_url("/metrics")) as r:
        assert r.status == 200
        body = await r.read()
    assert b"inworld_proxy_turn_latency_seconds_bucket" in body
    proc = await asyncio.create_subprocess_exec(
        tool, "check", "metrics",
        stdin=PIPE, stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await proc.communicate(body)
    assert proc.returncode == 0, (out + err).decode()
    assert not (out + err).strip(), (out + err).decode()  # no lint warnings either

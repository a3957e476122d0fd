"""The emulator's latency profile: first-output delay with jitter, and a slow cancellation.

The engine is driven with a fake monotonic clock; the shell's delay is checked on a real
socket for a lower bound only (a sleep is never shorter than asked).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import aiohttp
import pytest

from proxy.emulator import (
    EMULATOR_PATH,
    EmulatorSession,
    EmulatorSettings,
    create_emulator_app,
    pcm16_silence,
    pcm16_tone,
)
from proxy.emulator.latency import LatencyProfile

TIMEOUT = 10


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **settings: Any) -> EmulatorSession:
    engine = EmulatorSession(
        EmulatorSettings(**settings), "latency-key", clock=lambda: 1_000.0, monotonic=clock
    )
    engine.open()
    return engine


def send(engine: EmulatorSession, /, **event: Any) -> list[dict[str, Any]]:
    return engine.receive_text(json.dumps(event))


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


def ask(engine: EmulatorSession) -> None:
    content = [{"type": "input_text", "text": "a question long enough for many chunks"}]
    item = {"type": "message", "role": "user", "content": content}
    send(engine, type="conversation.item.create", item=item)
    send(engine, type="response.create")


def test_barge_in_with_cancel_ms_streams_on_until_due() -> None:
    """cancel_ms=300: speech_started cancels nothing yet; the reply streams on; the first
    batch taken after 300 ms is response.done (cancelled, turn_detected)."""
    clock = Clock()
    engine = make(clock, cancel_ms=300)
    ask(engine)
    engine.next_response_batch()
    events = send(engine, type="input_audio_buffer.append", audio=b64(pcm16_tone(100)))
    assert [e["type"] for e in events] == ["input_audio_buffer.speech_started"]
    assert engine.has_pending_response
    assert engine.cancel_wait == pytest.approx(0.3)
    clock.now += 0.2
    assert engine.next_response_batch()[-1]["type"] == "response.output_audio.delta"
    assert engine.cancel_wait == pytest.approx(0.1)
    clock.now += 0.1001
    [done] = engine.next_response_batch()
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert not engine.has_pending_response
    assert engine.cancel_wait is None


def test_end_of_the_users_turn_stops_the_reply_at_once() -> None:
    """The user's turn ends before cancel_ms: the old reply is cancelled then, and the new
    turn's reply starts."""
    clock = Clock()
    engine = make(clock, cancel_ms=5_000)
    ask(engine)
    engine.next_response_batch()
    send(engine, type="input_audio_buffer.append", audio=b64(pcm16_tone(200)))
    events = send(engine, type="input_audio_buffer.append", audio=b64(pcm16_silence(700)))
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["input_audio_buffer.speech_stopped", "response.done"]
    assert events[1]["response"]["status"] == "cancelled"
    assert "input_audio_buffer.committed" in kinds
    assert engine.has_pending_response  # the new reply
    assert engine.cancel_wait is None


def test_response_cancel_with_cancel_ms_and_a_second_cancel() -> None:
    clock = Clock()
    engine = make(clock, cancel_ms=100)
    ask(engine)
    engine.next_response_batch()
    assert send(engine, type="response.cancel") == []
    assert send(engine, type="response.cancel") == []  # already on its way: no error
    clock.now += 0.1001
    [done] = engine.next_response_batch()
    assert done["response"]["status_details"]["reason"] == "client_cancelled"


def test_without_cancel_ms_the_cancel_is_immediate() -> None:
    engine = make(Clock())
    ask(engine)
    engine.next_response_batch()
    [done] = send(engine, type="response.cancel")
    assert done["response"]["status"] == "cancelled"
    assert engine.cancel_wait is None


def test_first_output_is_held_back_with_seeded_jitter() -> None:
    """The batch that starts a response is split before its first delta; the delay is
    first_audio_ms +- jitter_ms, the same for the same session key."""
    clock = Clock()
    settings = {"first_audio_ms": 400, "jitter_ms": 50}
    delays = []
    for _ in range(2):
        engine = make(clock, **settings)
        profile = LatencyProfile(engine.settings, "session-a")
        ask(engine)
        first = engine.next_response_batch()
        now, later, delay = profile.first_output(first)
        assert now[0]["type"] == "response.created"
        assert later[0]["type"].endswith(".delta")
        assert now + later == first
        assert 0.35 <= delay <= 0.45
        delays.append(delay)
        rest = engine.next_response_batch()
        assert profile.first_output(rest) == (rest, [], 0.0)
    assert delays[0] == delays[1]
    other = LatencyProfile(EmulatorSettings(**settings), "session-b")
    engine = make(clock, **settings)
    ask(engine)
    assert other.first_output(engine.next_response_batch())[2] != delays[0]


def test_no_profile_no_delay() -> None:
    engine = make(Clock())
    ask(engine)
    batch = engine.next_response_batch()
    assert LatencyProfile(engine.settings, "k").first_output(batch) == (batch, [], 0.0)


@pytest.mark.parametrize("field", ["first_audio_ms", "jitter_ms", "cancel_ms"])
def test_negative_values_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        EmulatorSettings(**{field: -1})


async def test_the_server_holds_the_first_delta(aiohttp_server: Any) -> None:
    """On a socket: response.created comes at once, the first delta first_audio_ms later."""
    server = await aiohttp_server(create_emulator_app(EmulatorSettings(first_audio_ms=250)))
    url = str(server.make_url(EMULATOR_PATH)).replace("http", "ws", 1) + "?key=k&protocol=realtime"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, headers={"Authorization": "Basic YTpi"}) as ws,
    ):
        async with asyncio.timeout(TIMEOUT):
            assert json.loads(await ws.receive_str())["type"] == "session.created"
            await ws.send_str(json.dumps({"type": "response.create"}))
            times: dict[str, float] = {}
            while "response.done" not in times:
                kind = json.loads(await ws.receive_str())["type"]
                times.setdefault(kind, time.monotonic())
    first_delta = min(t for kind, t in times.items() if kind.endswith(".delta"))
    assert first_delta - times["response.created"] >= 0.25

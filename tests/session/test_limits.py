"""Limits: max sessions, message size, idle, max duration, heartbeats, slow readers, drain."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy.config import ConfigError, LimitsConfig, load
from proxy.emulator import EMULATOR_SESSIONS, EmulatorSettings
from proxy.web.appkeys import LIFECYCLE, SESSIONS
from proxy.web.auth import is_loopback_host
from tests.support.rig import (
    RELAY_TASKS,
    TIMEOUT,
    Client,
    eventually,
    open_sockets,
    start_rig,
    with_limits,
)
from tests.support.stack import proxy_config


async def test_max_sessions_refuses_with_1013(aiohttp_server: Any) -> None:
    """One session over limits.max_sessions: error event, close 1013, counted; the first lives."""
    rig = await start_rig(aiohttp_server, max_sessions=1)
    baseline = open_sockets()
    async with rig.client() as first:
        assert (await first.next_event())["type"] == "session.created"
        async with rig.client() as second:
            events, code, _ = await second.until_close()
        assert [(e["type"], e["error"]["code"]) for e in events] == [("error", "session_limit")]
        assert events[0]["error"]["type"] == "rate_limit_exceeded"
        assert code == 1013
        assert rig.metric("inworld_proxy_sessions_refused_total", reason="max_sessions") == 1
        assert (await first.full_turn())[-1]["type"] == "response.done"
    await rig.no_leaks(baseline)
    assert len(rig.emulator.app[EMULATOR_SESSIONS]) == 1  # the refused one never dialled


async def test_client_message_too_big(aiohttp_server: Any) -> None:
    """A client message over server.max_message_bytes: error event, then 1009; Inworld closed."""
    rig = await start_rig(aiohttp_server, max_message_bytes=8192)
    async with rig.client() as ws:
        assert (await ws.next_event())["type"] == "session.created"
        [record] = rig.emulator.app[EMULATOR_SESSIONS].values()
        await ws.ws.send_str('{"type":"input_audio_buffer.append","audio":"' + "A" * 9000 + '"}')
        events, code, _ = await ws.until_close()
    assert [(e["type"], e["error"]["code"]) for e in events] == [("error", "message_too_big")]
    assert code == 1009
    async with asyncio.timeout(TIMEOUT):
        await record.finished.wait()
    assert "input_audio_buffer.append" not in record.client_event_types


async def test_upstream_message_too_big(aiohttp_server: Any) -> None:
    """An Inworld message over the limit: error event (server_error), then 1009."""
    rig = await start_rig(aiohttp_server, max_message_bytes=6000)  # audio chunks are ~6.5 kB
    async with rig.client() as ws:
        assert (await ws.next_event())["type"] == "session.created"
        await ws.ask("a reply long enough to need large audio chunks")
        events, code, reason = await ws.until_close()
    assert events[-1]["error"]["code"] == "upstream_message_too_big"
    assert events[-1]["error"]["type"] == "server_error"
    assert (code, reason) == (1009, "upstream message too big")


async def test_idle_timeout_ignores_keepalives(aiohttp_server: Any) -> None:
    """No message either way (Inworld pings every 50 ms do not count): error, close 1000."""
    rig = await start_rig(aiohttp_server, idle_timeout=0.4)
    async with rig.client() as ws:
        started = asyncio.get_running_loop().time()
        assert (await ws.next_event())["type"] == "session.created"
        events, code, reason = await ws.until_close()
        quiet = asyncio.get_running_loop().time() - started
    assert [e["error"]["code"] for e in events] == ["idle_timeout"]
    assert (code, reason) == (1000, "idle timeout")
    assert quiet >= 0.4


async def test_activity_defers_idle_timeout(aiohttp_server: Any) -> None:
    """A session with traffic outlives several idle periods."""
    rig = await start_rig(aiohttp_server, idle_timeout=0.4)
    async with rig.client() as ws:
        assert (await ws.next_event())["type"] == "session.created"
        for _ in range(4):  # each turn takes well under 0.4 s; four take longer than it
            assert (await ws.full_turn())[-1]["type"] == "response.done"
        assert not ws.ws.closed


async def test_max_session_duration(aiohttp_server: Any) -> None:
    """A busy session is still closed at limits.max_session_duration: session_expired, 1000."""
    rig = await start_rig(aiohttp_server, max_session_duration=0.5)
    async with rig.client() as ws:
        assert (await ws.next_event())["type"] == "session.created"
        await ws.ask("keep talking " * 20)
        events, code, reason = await ws.until_close()
    assert events[-1]["error"]["code"] == "session_expired"
    assert (code, reason) == (1000, "maximum session duration reached")


async def test_client_heartbeat_drops_unresponsive_client(aiohttp_server: Any) -> None:
    """A client that never answers pings is dropped; Inworld is closed with 1011."""
    rig = await start_rig(aiohttp_server, heartbeat_interval=0.2)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(rig.proxy.make_url("/v1/realtime"), autoping=False)
        try:
            # Read nothing at all: the proxy's pings go unanswered.
            await eventually(lambda: bool(rig.emulator.app[EMULATOR_SESSIONS]))
            [record] = rig.emulator.app[EMULATOR_SESSIONS].values()
            async with asyncio.timeout(TIMEOUT):
                await record.finished.wait()
        finally:
            await ws.close()
    assert record.close_code == 1011


class _DeafUpstream:
    """An Inworld stand-in that starts the session, then stops reading its socket."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"type":"session.created","event_id":"a","session":{}}')
        await ws.receive()  # the proxy's own session.update
        await ws.send_str('{"type":"session.updated","event_id":"b","session":{}}')
        assert request.transport is not None
        request.transport.pause_reading()
        await self.release.wait()  # deaf until the test ends
        request.transport.resume_reading()
        await ws.close()
        return ws


async def test_slow_upstream_reader_gets_1013(aiohttp_server: Any, start_proxy: Any) -> None:
    """Inworld stops reading while the client streams: error `slow_reader`, close 1013."""
    deaf = _DeafUpstream()
    app = web.Application()
    app.router.add_get("/s", deaf.handler)
    upstream = await aiohttp_server(app)
    url = str(upstream.make_url("/s")).replace("http", "ws", 1)
    cfg = with_limits(proxy_config(url), max_queued_bytes=256 * 1024, heartbeat_interval=0)
    proxy = await start_proxy(cfg)
    chunk = orjson.dumps({"type": "input_audio_buffer.append", "audio": "A" * 65536}).decode()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(proxy.make_url("/v1/realtime")) as raw,
        asyncio.TaskGroup() as tg,
    ):
        ws = Client(raw)
        reader = tg.create_task(ws.read())
        assert (await ws.next_event())["type"] == "session.created"

        async def stream() -> None:
            try:
                while not raw.closed:
                    await raw.send_str(chunk)
                    await asyncio.sleep(0)
            except (aiohttp.ClientError, ConnectionError):
                return  # the proxy closed the connection

        streamer = tg.create_task(stream())
        try:
            events, code, reason = await ws.until_close()
        finally:
            streamer.cancel()
            reader.cancel()
    assert [e["error"]["code"] for e in events] == ["slow_reader"]
    assert (code, reason) == (1013, "upstream reads too slowly")
    await eventually(
        lambda: (
            not {t.get_name() for t in asyncio.all_tasks()} & RELAY_TASKS
            and not proxy.app[SESSIONS]
        )
    )
    deaf.release.set()


async def test_frames_sent_while_upstream_connects_arrive_in_order(
    aiohttp_server: Any, start_proxy: Any
) -> None:
    """Client frames sent before Inworld answers wait in the socket and all arrive, in order."""
    release = asyncio.Event()
    received: list[str] = []
    done = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        await release.wait()
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await ws.send_str('{"type":"session.created","event_id":"a","session":{}}')
        async for msg in ws:
            received.append(msg.data)
            if len(received) == 1:
                await ws.send_str('{"type":"session.updated","event_id":"b","session":{}}')
            if len(received) == 201:
                done.set()
        return ws

    app = web.Application()
    app.router.add_get("/s", slow)
    upstream = await aiohttp_server(app)
    proxy = await start_proxy(
        with_limits(proxy_config(str(upstream.make_url("/s")).replace("http", "ws", 1)))
    )
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(proxy.make_url("/v1/realtime")) as ws,
    ):
        audio = "A" * 10_000
        for i in range(200):  # 2 MB while the upstream has not even answered the upgrade
            await ws.send_str(
                orjson.dumps(
                    {"type": "input_audio_buffer.append", "event_id": f"e{i}", "audio": audio}
                ).decode()
            )
        release.set()
        async with asyncio.timeout(TIMEOUT):
            await done.wait()
    ids = [orjson.loads(text).get("event_id") for text in received[1:]]
    assert ids == [f"e{i}" for i in range(200)]


async def test_draining_refuses_new_sessions_before_upgrade(aiohttp_server: Any) -> None:
    """While draining: new sessions get HTTP 503 JSON (no upgrade); live ones continue."""
    rig = await start_rig(aiohttp_server)
    async with rig.client() as live:
        assert (await live.next_event())["type"] == "session.created"
        rig.proxy.app[LIFECYCLE].draining = True
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(rig.proxy.make_url("/v1/realtime"))
            assert info.value.status == 503
            async with http.get(
                rig.proxy.make_url("/v1/realtime"),
                headers={"Upgrade": "websocket", "Connection": "Upgrade",
                         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                         "Sec-WebSocket-Version": "13"},
            ) as response:  # fmt: skip
                body = await response.json()
        assert body["error"]["code"] == "proxy_draining"
        assert rig.metric("inworld_proxy_sessions_refused_total", reason="draining") == 2
        assert (await live.full_turn())[-1]["type"] == "response.done"


def test_limits_config_defaults_and_validation(tmp_path: Path) -> None:
    """[limits] has documented defaults; bad values name the key."""
    assert load(None, {}).limits == LimitsConfig()
    for text, key in [
        ("[limits]\nmax_sessions = 0\n", "limits.max_sessions"),
        ("[limits]\nidle_timeout = -1\n", "limits.idle_timeout"),
        ("[limits]\nclose_timeout = 0\n", "limits.close_timeout"),
        ('[limits]\nmax_queued_bytes = "big"\n', "limits.max_queued_bytes"),
        ("[limits]\nmax_sesions = 3\n", "limits.max_sesions"),
    ]:
        path = tmp_path / "c.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load(path, {})
    path = tmp_path / "ok.toml"
    path.write_text("[limits]\nidle_timeout = 0\nmax_sessions = 5\n")
    limits = load(path, {}).limits
    assert (limits.idle_timeout, limits.max_sessions) == (0.0, 5)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.10.0.3", True),
        ("::1", True),
        ("[::1]", True),
        ("api.inworld.ai", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        (None, False),
    ],
)
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    """Only localhost, 127.0.0.0/8 and ::1 count as loopback."""
    assert is_loopback_host(host) is loopback


def test_emulator_fault_settings_are_validated() -> None:
    """Fault settings of the emulator are range-checked like the others."""
    with pytest.raises(ValueError, match="fault_status"):
        EmulatorSettings(fault="refuse", fault_status=200)
    with pytest.raises(ValueError, match="fault"):
        EmulatorSettings(fault="explode")  # type: ignore[arg-type]
    assert dataclasses.replace(EmulatorSettings(), fault="stall").fault == "stall"

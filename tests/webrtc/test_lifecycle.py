"""A call's lifecycle: ICE that never connects, limits, shutdown, and nothing left behind.

Real aiortc peers on loopback against the proxy and the emulator; each test waits on events
(the proxy's own accounting), never on sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from proxy.config import Config
from proxy.emulator import EMULATOR_PATH, EMULATOR_SESSIONS, EmulatorSettings, create_emulator_app
from proxy.web.app import create_app
from proxy.web.appkeys import SESSIONS
from proxy.web.calls import CALLS
from tests.support.scripted import EndedSessions
from tests.support.stack import KEY, SECRET, proxy_config
from tests.support.webrtc import client_peer, loopback_config, metric_sum, offer, rtc_call

CALLS_URL = "/v1/realtime/calls"


@dataclasses.dataclass
class Bridge:
    emulator: TestServer
    proxy: TestServer
    registry: CollectorRegistry

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels`."""
        return metric_sum(self.registry, name, **labels)


@pytest.fixture
def start_bridge(aiohttp_server: Any) -> Any:
    async def start(webrtc: dict[str, Any] | None = None, **limits: Any) -> Bridge:
        settings = EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0)
        emulator = await aiohttp_server(create_emulator_app(settings))
        url = str(emulator.make_url(EMULATOR_PATH)).replace("http", "ws", 1)
        cfg: Config = loopback_config(proxy_config(url), **(webrtc or {}))
        cfg = dataclasses.replace(cfg, limits=dataclasses.replace(cfg.limits, **limits))
        registry = CollectorRegistry()
        app = create_app(cfg, registry=registry, logger=structlog.get_logger("test"))
        return Bridge(emulator, await aiohttp_server(app), registry)

    return start


async def test_ice_that_never_connects_ends_the_call(start_bridge: Any) -> None:
    """The client posts its offer and vanishes: the call ends after connect_timeout with a
    log line and the metric, and its upstream session is closed."""
    bridge = await start_bridge(webrtc={"connect_timeout": 0.5})
    ends = EndedSessions(bridge.proxy.app)
    pc = client_peer()
    sdp = await offer(pc)
    await pc.close()  # never takes the answer
    with structlog.testing.capture_logs() as logs:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                bridge.proxy.make_url(CALLS_URL),
                data=sdp.encode(),
                headers={"Content-Type": "application/sdp"},
            ) as response,
        ):
            assert response.status == 201
        await ends.wait()
    [failure] = [r for r in logs if r["event"] == "webrtc_ice_failed"]
    assert failure["reason"] == "timeout"
    [end] = [r for r in logs if r["event"] == "session_end"]
    assert end["outcome"] == "proxy_closed"
    assert "ICE" in end["reason"]
    assert bridge.metric("inworld_proxy_webrtc_ice_failures_total", reason="timeout") == 1
    assert not bridge.proxy.app[SESSIONS]


async def test_idle_timeout_closes_peer_and_upstream(start_bridge: Any) -> None:
    """limits.idle_timeout applies to a call: the client is told, its peer connection closes."""
    bridge = await start_bridge(idle_timeout=0.5)
    ends = EndedSessions(bridge.proxy.app)
    async with rtc_call(bridge.proxy.make_url(CALLS_URL)) as client:
        await client.until("session.created")
        closed = asyncio.Event()
        client.channel.on("close", closed.set)
        client.mic.stop()  # a stopped microphone track sends nothing at all
        await ends.wait()
        async with asyncio.timeout(10):
            await closed.wait()
    [record] = bridge.emulator.app[EMULATOR_SESSIONS].values()
    assert record.closed


async def test_shutdown_closes_live_calls(start_bridge: Any) -> None:
    """SIGTERM's last step (the app's shutdown) ends the live calls like sessions."""
    bridge = await start_bridge()
    ends = EndedSessions(bridge.proxy.app)
    async with rtc_call(bridge.proxy.make_url(CALLS_URL)) as client:
        await client.until("session.created")
        await bridge.proxy.app.shutdown()
        await ends.wait()
        assert not bridge.proxy.app[CALLS].calls
    assert not bridge.proxy.app[SESSIONS]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def settle(tasks: set[asyncio.Task[Any]]) -> None:
    """Wait for `tasks` that are ending (bounded), then let their callbacks run."""
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    for _ in range(3):
        await asyncio.sleep(0)  # done-callbacks (set discards, transport closes) run


async def test_200_calls_leave_nothing_behind(start_bridge: Any) -> None:
    """200 calls come and go (10 at a time): no task, socket, UDP port or session is left."""
    bridge = await start_bridge()
    ends = EndedSessions(bridge.proxy.app)
    url = bridge.proxy.make_url(CALLS_URL)

    async def one() -> None:
        async with rtc_call(url) as client:
            await client.until("session.created")

    async with rtc_call(url) as warm:  # first-use imports and caches out of the count
        await warm.until("session.created")
    await ends.wait(1)
    await settle(set())
    tasks, fds = asyncio.all_tasks(), _open_fds()
    for batch in range(20):
        await asyncio.gather(*(one() for _ in range(10)))
        await ends.wait(1 + 10 * (batch + 1))
    assert not bridge.proxy.app[SESSIONS]
    assert not bridge.proxy.app[CALLS].calls
    await settle(asyncio.all_tasks() - tasks)  # closing tasks end on their own
    assert asyncio.all_tasks() <= tasks
    assert not bridge.proxy.app[CALLS].tasks
    assert _open_fds() <= fds  # sockets, UDP ports included
    labels = {"outcome": "client_closed", "close_code_class": "none", "dialect": "ga"}
    labels["protocol"] = "realtime"
    ended = bridge.metric("inworld_proxy_sessions_total", transport="webrtc", **labels)
    assert ended == 201

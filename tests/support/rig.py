"""Test rig for limits and faults: emulator + proxy with tight limits, clients, leak checks."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import structlog
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from proxy.config import Config, LimitsConfig
from proxy.emulator import EMULATOR_FAULTS, EMULATOR_SESSIONS, FaultPlan, create_emulator_app
from proxy.emulator import EmulatorSettings as Settings
from proxy.web.app import create_app
from proxy.web.appkeys import SESSIONS
from tests.support.stack import KEY, SECRET, proxy_config

TIMEOUT = 10
RELAY_TASKS = frozenset({"upstream-open", "session-watchdog"})
TEST_LIMITS = LimitsConfig(
    heartbeat_interval=0.4,
    idle_timeout=0,
    max_session_duration=0,
    session_start_timeout=1.0,
    close_timeout=0.5,
)


def with_limits(cfg: Config, **limits: Any) -> Config:
    """`cfg` with TEST_LIMITS, overridden by `limits`."""
    return dataclasses.replace(cfg, limits=dataclasses.replace(TEST_LIMITS, **limits))


@dataclasses.dataclass
class Rig:
    """An emulator and a proxy in front of it, on loopback."""

    emulator: TestServer
    proxy: TestServer
    registry: CollectorRegistry

    @property
    def faults(self) -> FaultPlan:
        """The emulator's fault plan: set `mode` to break the next connections."""
        return self.emulator.app[EMULATOR_FAULTS]

    def metric(self, name: str, **labels: str) -> float:
        """A sample of the proxy's registry (0 when absent)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    @contextlib.asynccontextmanager
    async def client(self, **kwargs: Any) -> AsyncIterator[Client]:
        """A WebSocket client of the proxy, reading in the background."""
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(self.proxy.make_url("/v1/realtime"), **kwargs) as ws,
            asyncio.TaskGroup() as tg,
        ):
            client = Client(ws)
            reader = tg.create_task(client.read())
            try:
                yield client
            finally:
                reader.cancel()

    async def no_leaks(self, sockets_before: int) -> None:
        """Wait until no relay task, proxy session, emulator socket or extra fd is left."""

        def clean() -> bool:
            tasks = {t.get_name() for t in asyncio.all_tasks()}
            records = self.emulator.app[EMULATOR_SESSIONS].values()
            return (
                not tasks & RELAY_TASKS
                and not self.proxy.app[SESSIONS]
                and all(record.closed for record in records)
                and open_sockets() <= sockets_before
            )

        try:
            await eventually(clean)
        except TimeoutError:
            tasks = {t.get_name() for t in asyncio.all_tasks()}
            raise AssertionError(
                f"leak: tasks={tasks & RELAY_TASKS} sessions={len(self.proxy.app[SESSIONS])} "
                f"sockets={open_sockets()} (before: {sockets_before})"
            ) from None
        assert (
            self.metric("inworld_proxy_sessions_active", transport="websocket", protocol="realtime")
            == 0
        )


async def start_rig(
    aiohttp_server: Any,
    settings: Settings | None = None,
    max_message_bytes: int | None = None,
    **limits: Any,
) -> Rig:
    """Start the emulator (fast pings, paced responses) and a proxy with TEST_LIMITS."""
    settings = settings or Settings(
        api_key=KEY, api_secret=SECRET, ping_interval=0.05, response_pace=0.02
    )
    emulator = await aiohttp_server(create_emulator_app(settings))
    url = str(emulator.make_url("/api/v1/realtime/session")).replace("http", "ws", 1)
    registry = CollectorRegistry()
    cfg = with_limits(proxy_config(url), **limits)
    if max_message_bytes is not None:
        server = dataclasses.replace(cfg.server, max_message_bytes=max_message_bytes)
        cfg = dataclasses.replace(cfg, server=server)
    app = create_app(
        cfg,
        registry=registry,
        logger=structlog.get_logger("test"),
    )
    proxy = await aiohttp_server(app)
    return Rig(emulator=emulator, proxy=proxy, registry=registry)


def open_sockets() -> int:
    """Socket file descriptors open in this process."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
    return count


async def eventually(check: Callable[[], bool]) -> None:
    """Wait until `check()` holds, at most TIMEOUT seconds.

    Only for effects no event announces (a transport's socket is closed by a loop callback
    after the relay has returned); everything else waits on events.
    """
    for _ in range(int(TIMEOUT / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError


_END = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)


class Client:
    """A WebSocket client that always reads (so it answers the proxy's heartbeat pings)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inbox: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()

    async def read(self) -> None:
        """Move every message to `inbox` until the socket ends."""
        while True:
            msg = await self.ws.receive()
            self.inbox.put_nowait(msg)
            if msg.type in _END:
                return

    async def receive(self) -> aiohttp.WSMessage:
        async with asyncio.timeout(TIMEOUT):
            return await self.inbox.get()

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps(event).decode())

    async def next_event(self, kind: str | None = None) -> Any:
        """The next event (of type `kind`, skipping others); fails on a close."""
        while True:
            msg = await self.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            event = orjson.loads(msg.data)
            if kind is None or event["type"] == kind:
                return event

    async def until_close(self) -> tuple[list[Any], int | None, str]:
        """Events received until the close, and the close code and reason."""
        events: list[Any] = []
        while True:
            msg = await self.receive()
            if msg.type is aiohttp.WSMsgType.TEXT:
                events.append(orjson.loads(msg.data))
                continue
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
            return events, self.ws.close_code, msg.extra if isinstance(msg.extra, str) else ""

    async def ask(self, text: str = "hello there") -> None:
        """Send a user text message and ask for a response."""
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        await self.send({"type": "conversation.item.create", "item": item})
        await self.send({"type": "response.create"})

    async def full_turn(self, text: str = "hello there") -> list[Any]:
        """A complete text turn: every event up to and including `response.done`."""
        await self.ask(text)
        events = []
        while True:
            event = await self.next_event()
            events.append(event)
            if event["type"] == "response.done":
                return events

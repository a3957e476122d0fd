"""Unfinished messages are bounded: a deadline (`limits.message_timeout`) and memory budgets per
session and per process (`limits.max_unfinished_bytes_per_session`, `max_unfinished_bytes`).

Raw clients send frame headers that declare more than they send; the upstream is a raw
Inworld stand-in that records what it receives. Every other timer is off in these sessions.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from proxy.config import Config, ConfigError, load
from proxy.ws.frames import CLOSE, TEXT, close_payload
from tests.support.raw_ws import (
    RawUpstream,
    client_frame,
    header,
    raw_client,
    read_frame,
    read_until_close,
    server_frame,
)
from tests.support.stack import proxy_config

TIMEOUT = 10
CREATED = b'{"type":"session.created","event_id":"e1","session":{}}'
UPDATED = b'{"type":"session.updated","event_id":"e2","session":{}}'


def limited(url: str, **limits: Any) -> Config:
    """A proxy config for the raw upstream at `url`, other timers off, with `limits`."""
    cfg = proxy_config(url)
    values = {"heartbeat_interval": 0, "idle_timeout": 0, "max_session_duration": 0, **limits}
    return dataclasses.replace(cfg, limits=dataclasses.replace(cfg.limits, **values))


@dataclasses.dataclass
class Inworld:
    """Opens each session as Inworld does and records every TEXT message per connection."""

    received: list[list[bytes]] = dataclasses.field(default_factory=list)
    got: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def script(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        texts: list[bytes] = []
        self.received.append(texts)
        writer.write(server_frame(TEXT, CREATED))
        await read_frame(reader)  # the proxy's own session.update
        writer.write(server_frame(TEXT, UPDATED))
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == CLOSE:
                writer.write(server_frame(CLOSE, payload))
                return
            texts.append(payload)
            self.got.set()

    async def next_message(self) -> None:
        self.got.clear()
        async with asyncio.timeout(TIMEOUT):
            await self.got.wait()


async def opened(reader: asyncio.StreamReader) -> None:
    async with asyncio.timeout(TIMEOUT):
        while b"session.created" not in (await read_frame(reader))[1]:
            pass


def event(text: bytes) -> str:
    return str(orjson.loads(text)["error"]["code"])


def item(size: int) -> bytes:
    """A conversation.item.create of exactly `size` bytes."""
    head = b'{"type":"conversation.item.create","pad":"'
    return head + b"x" * (size - len(head) - 2) + b'"}'


async def test_a_message_not_finished_in_time_is_closed_1008(start_proxy: Any) -> None:
    """Half a frame, then nothing: after limits.message_timeout the client gets the
    `message_timeout` error and Close 1008; the upstream never sees the message."""
    inworld = Inworld()
    async with RawUpstream(inworld.script) as server:
        proxy = await start_proxy(limited(server.url, message_timeout=0.3))
        async with raw_client(proxy.host, proxy.port) as (reader, writer):
            await opened(reader)
            loop = asyncio.get_running_loop()
            began = loop.time()
            writer.write(header(TEXT, 1000, masked=True) + b'{"type":"x","pad":"')
            texts, close = await read_until_close(reader)
            waited = loop.time() - began
    assert [event(t) for t in texts] == ["message_timeout"]
    assert close == (1008, "message not finished in time")
    assert waited >= 0.3
    assert inworld.received == [[]]


async def test_a_message_finished_in_time_goes_through(start_proxy: Any) -> None:
    """A message whose frame arrives in two parts, well within the deadline, is relayed."""
    inworld = Inworld()
    message = item(3000)
    frame = client_frame(TEXT, message)
    async with RawUpstream(inworld.script) as server:
        proxy = await start_proxy(limited(server.url, message_timeout=5.0))
        async with raw_client(proxy.host, proxy.port) as (reader, writer):
            await opened(reader)
            writer.write(frame[:1000])
            await writer.drain()
            await asyncio.sleep(0.1)  # the pace of a slow sender, not a synchronisation
            writer.write(frame[1000:])
            await inworld.next_message()
    assert inworld.received == [[message]]


async def test_a_frame_over_the_session_budget_is_refused_at_its_header(start_proxy: Any) -> None:
    """With 64 KiB per session, a frame declaring 100 KiB gets the `message_buffers_full` error
    and Close 1013 (try again later) as soon as its header arrives; one of 50 KiB passes."""
    inworld = Inworld()
    fits = item(50_000)
    async with RawUpstream(inworld.script) as server:
        cfg = limited(server.url, max_unfinished_bytes_per_session=65536)
        proxy = await start_proxy(cfg)
        async with raw_client(proxy.host, proxy.port) as (reader, writer):
            await opened(reader)
            frame = client_frame(TEXT, fits)
            writer.write(frame[:100])  # split, so the frame is held unfinished for a while
            await writer.drain()
            writer.write(frame[100:])
            await inworld.next_message()
            writer.write(header(TEXT, 100_000, masked=True) + b'{"type":')  # and no more
            texts, close = await read_until_close(reader)
    assert [event(t) for t in texts] == ["message_buffers_full"]
    assert close == (1013, "message buffers full, try again later")
    assert inworld.received == [[fits]]


async def test_the_process_budget_is_shared_by_all_sessions(start_proxy: Any) -> None:
    """Process budget 100 KB: while one session holds a 60 KB message unfinished, another's
    60 KB message gets 1013; the first then finishes its message, and a new session's fits."""
    inworld = Inworld()
    first_message, second_message = item(60_000), item(60_000)
    first_frame = client_frame(TEXT, first_message)
    async with RawUpstream(inworld.script) as server:
        cfg = limited(server.url, max_unfinished_bytes=100_000)
        proxy = await start_proxy(cfg)
        async with raw_client(proxy.host, proxy.port) as (reader1, writer1):
            await opened(reader1)
            writer1.write(first_frame[:30_000])
            await writer1.drain()
            async with raw_client(proxy.host, proxy.port) as (reader2, writer2):
                await opened(reader2)
                writer2.write(header(TEXT, 60_000, masked=True))
                texts, close = await read_until_close(reader2)
            assert [event(t) for t in texts] == ["message_buffers_full"]
            assert close[0] == 1013
            writer1.write(first_frame[30_000:])
            await inworld.next_message()
            async with raw_client(proxy.host, proxy.port) as (reader3, writer3):
                await opened(reader3)
                writer3.write(client_frame(TEXT, second_message))
                await inworld.next_message()
                writer3.write(client_frame(CLOSE, close_payload(1000, "")))
                _, close3 = await read_until_close(reader3)
    assert close3[0] == 1000
    assert [texts for texts in inworld.received if texts] == [[first_message], [second_message]]


def test_the_limits_have_defaults_and_refuse_bad_values(tmp_path: Path) -> None:
    """limits.message_timeout (0: off), max_unfinished_bytes_per_session, max_unfinished_bytes:
    the documented defaults; a wrong value stops the start, naming the key."""
    limits = load(None, {}).limits
    assert limits.message_timeout == 60.0
    assert limits.max_unfinished_bytes_per_session == 17 << 20
    assert limits.max_unfinished_bytes == 128 << 20
    path = tmp_path / "ok.toml"
    path.write_text("[limits]\nmessage_timeout = 0\n")
    assert load(path, {}).limits.message_timeout == 0.0
    for text, key in [
        ("[limits]\nmessage_timeout = -1\n", "limits.message_timeout"),
        ("[limits]\nmax_unfinished_bytes = 0\n", "limits.max_unfinished_bytes"),
        ('[limits]\nmax_unfinished_bytes_per_session = "x"\n', "limits.max_unfinished_bytes_per"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load(path, {})

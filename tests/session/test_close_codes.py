"""Close codes survive every failure path: over real sockets, with peers written byte by byte.

Invalid UTF-8 (1007 from the proxy itself, both directions, Inworld and pass-through routes),
a peer's Close followed at once by a TCP reset (its code still reaches the other side), and
the audio appends the relay forwards unparsed (unchecked: the upstream's own answer reaches
the client). The other timers are off in these sessions, so nothing but the behaviour under
test can end them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from proxy.config import Config, load
from proxy.ws.frames import CLOSE, CONTINUATION, TEXT, close_payload, parse_close
from tests.support.raw_ws import (
    RawUpstream,
    client_frame,
    raw_client,
    read_frame,
    read_until_close,
    reset,
    server_frame,
)
from tests.support.stack import KEY, SECRET, proxy_config

TIMEOUT = 10
CREATED = b'{"type":"session.created","event_id":"e1","session":{}}'
UPDATED = b'{"type":"session.updated","event_id":"e2","session":{}}'
NOT_UTF8 = b'{"type":"conversation.item.create","v":"\xff"}'
PASS = '[routing.routes."*"]\nvariants = [{ provider = "openai", name = "direct" }]\n'
ROUTES = pytest.mark.parametrize("route", ["inworld", "passthrough"])


def quiet(cfg: Config) -> Config:
    """`cfg` with every timer that could end a session off (close_timeout aside)."""
    limits = dataclasses.replace(
        cfg.limits, heartbeat_interval=0, idle_timeout=0, max_session_duration=0, close_timeout=2
    )
    return dataclasses.replace(cfg, limits=limits)


def config_for(route: str, url: str, tmp_path: Path) -> Config:
    """A proxy config whose upstream for `route` is `url`."""
    if route == "inworld":
        return quiet(proxy_config(url))
    path = tmp_path / "proxy.toml"
    path.write_text(PASS)
    env = {"INWORLD_API_KEY": KEY, "INWORLD_API_SECRET": SECRET, "OPENAI_API_KEY": "sk-test"}
    cfg = load(path, env)
    return quiet(dataclasses.replace(cfg, openai=dataclasses.replace(cfg.openai, url=url)))


@dataclasses.dataclass
class Upstream:
    """What the raw upstream saw: the TEXT payloads after the session opened, its peer's Close."""

    route: str
    texts: list[bytes] = dataclasses.field(default_factory=list)
    close: tuple[int, str] | None = None
    opened: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def open(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Start the session as the route's upstream does."""
        writer.write(server_frame(TEXT, CREATED))
        if self.route == "inworld":  # the proxy's own session.update, then the answer
            opcode, payload = await read_frame(reader)
            assert (opcode, b'"session.update"' in payload) == (TEXT, True)
            writer.write(server_frame(TEXT, UPDATED))
        self.opened.set()

    async def until_close(self, reader: asyncio.StreamReader) -> None:
        """Record TEXT payloads until the proxy's Close."""
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == CLOSE:
                self.close = parse_close(payload)
                return
            if opcode == TEXT:
                self.texts.append(payload)


async def opened_client(reader: asyncio.StreamReader) -> None:
    """Read until the client has seen session.created (its session is open)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == TEXT and b'"session.created"' in payload:
                return


@ROUTES
async def test_client_text_that_is_not_utf8_is_closed_1007(
    route: str, start_proxy: Any, tmp_path: Path
) -> None:
    """A client TEXT message that is not UTF-8: the client gets Close 1007 and no event, the
    upstream never sees the message and is closed with 1000."""
    upstream = Upstream(route)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.open(reader, writer)
        await upstream.until_close(reader)

    async with RawUpstream(script) as server:
        proxy = await start_proxy(config_for(route, server.url, tmp_path))
        async with raw_client(proxy.host, proxy.port) as (reader, writer):
            await opened_client(reader)
            writer.write(
                client_frame(TEXT, b'{"type":"response.cancel"}') + client_frame(TEXT, NOT_UTF8)
            )
            texts, close = await read_until_close(reader)
        async with asyncio.timeout(TIMEOUT):
            await server.done.wait()
    assert close == (1007, "invalid UTF-8 in a text message")
    assert texts == []  # no error event: a protocol error is answered by the Close alone
    assert upstream.texts == [b'{"type":"response.cancel"}']  # what came before goes on
    assert upstream.close is not None
    assert upstream.close[0] == 1000


@ROUTES
async def test_bad_utf8_in_a_fragment_fails_before_the_message_ends(
    route: str, start_proxy: Any, tmp_path: Path
) -> None:
    """A fragmented TEXT message is checked fragment by fragment: the fragment with the bad
    byte closes the connection (1007) though the message's last fragment never comes."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Upstream(route).open(reader, writer)
        await Upstream(route).until_close(reader)

    async with RawUpstream(script) as server:
        proxy = await start_proxy(config_for(route, server.url, tmp_path))
        async with raw_client(proxy.host, proxy.port) as (reader, writer):
            await opened_client(reader)
            writer.write(client_frame(TEXT, b'{"type":"x","v":"\xce', fin=False))
            writer.write(client_frame(CONTINUATION, b"\xba\xf4\x90", fin=False))  # U+110000
            _, close = await read_until_close(reader)
    assert close == (1007, "invalid UTF-8 in a text message")


@ROUTES
async def test_upstream_text_that_is_not_utf8_is_closed_1007(
    route: str, start_proxy: Any, tmp_path: Path
) -> None:
    """An upstream TEXT message that is not UTF-8: the upstream is closed with 1007, the client
    gets 1011 `upstream protocol error` (it did nothing wrong) and never the bytes."""
    upstream = Upstream(route)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.open(reader, writer)
        writer.write(server_frame(TEXT, NOT_UTF8))
        await upstream.until_close(reader)

    async with RawUpstream(script) as server:
        proxy = await start_proxy(config_for(route, server.url, tmp_path))
        async with raw_client(proxy.host, proxy.port) as (reader, writer):
            texts, close = await read_until_close(reader)
            writer.write(client_frame(CLOSE, close_payload(1000, "")))
        async with asyncio.timeout(TIMEOUT):
            await server.done.wait()
    assert close == (1011, "upstream protocol error")
    assert not any(b"\xff" in text for text in texts)
    assert upstream.close == (1007, "invalid UTF-8 in a text message")


@ROUTES
async def test_an_unparsed_audio_append_is_not_checked(
    route: str, start_proxy: Any, tmp_path: Path
) -> None:
    """The documented exception: an audio append is forwarded by its prefix, unparsed and
    unchecked; what the upstream answers (OpenAI: close 1007) is what the client gets."""
    upstream = Upstream(route)
    append = b'{"type":"input_audio_buffer.append","audio":"\xff"}'

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.open(reader, writer)
        while (frame := await read_frame(reader))[0] != TEXT:
            pass
        upstream.texts.append(frame[1])
        writer.write(server_frame(CLOSE, close_payload(1007, "invalid utf-8")))
        await upstream.until_close(reader)

    async with RawUpstream(script) as server:
        proxy = await start_proxy(config_for(route, server.url, tmp_path))
        async with raw_client(proxy.host, proxy.port) as (reader, writer):
            await opened_client(reader)
            writer.write(client_frame(TEXT, append))
            _, close = await read_until_close(reader)
    assert upstream.texts == [append]  # the very bytes
    assert close == (1007, "invalid utf-8")


@ROUTES
async def test_upstream_close_then_reset_still_gives_the_client_its_code(
    route: str, start_proxy: Any, tmp_path: Path
) -> None:
    """The upstream sends Close 4001 and resets TCP in the same instant: the client gets
    4001 and its reason, not 1011 `upstream connection lost`."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Upstream(route).open(reader, writer)
        writer.write(server_frame(CLOSE, close_payload(4001, "gone for lunch")))
        reset(writer)

    async with RawUpstream(script) as server:
        proxy = await start_proxy(config_for(route, server.url, tmp_path))
        async with raw_client(proxy.host, proxy.port) as (reader, _):
            texts, close = await read_until_close(reader)
    assert close == (4001, "gone for lunch")
    assert not any(b"upstream_connection_lost" in text for text in texts)


@ROUTES
async def test_client_close_then_reset_still_gives_the_upstream_its_code(
    route: str, start_proxy: Any, tmp_path: Path
) -> None:
    """The client sends Close 4002 and resets TCP at once: the upstream gets 4002."""
    upstream = Upstream(route)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.open(reader, writer)
        await upstream.until_close(reader)

    async with RawUpstream(script) as server:
        proxy = await start_proxy(config_for(route, server.url, tmp_path))
        async with raw_client(proxy.host, proxy.port) as (reader, writer):
            await opened_client(reader)
            writer.write(client_frame(CLOSE, close_payload(4002, "see you")))
            reset(writer)
        async with asyncio.timeout(TIMEOUT):
            await server.done.wait()
    assert upstream.close == (4002, "see you")


async def test_a_17_mib_message_gets_the_error_event_and_1009(
    start_proxy: Any, tmp_path: Path
) -> None:
    """A client (aiohttp) sends 17 MiB, over server.max_message_bytes (16 MiB): the proxy fails
    the connection at the frame's header but goes on reading (and dropping) the rest, so the
    client gets the `error` event and Close 1009 instead of a reset (1006)."""
    upstream = Upstream("inworld")

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upstream.open(reader, writer)
        await upstream.until_close(reader)

    async with RawUpstream(script) as server:
        cfg = config_for("inworld", server.url, tmp_path)
        assert cfg.server.max_message_bytes == 16 << 20  # the default, not a test value
        proxy = await start_proxy(cfg)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(proxy.make_url("/v1/realtime")) as ws,
        ):
            async with asyncio.timeout(TIMEOUT):
                assert "session.created" in await ws.receive_str()
            big = '{"type":"conversation.item.create","pad":"' + "x" * (17 << 20) + '"}'
            async with asyncio.TaskGroup() as tg, asyncio.timeout(TIMEOUT):
                tg.create_task(ws.send_str(big))  # still sending when the answer comes
                error = await ws.receive()
                closing = await ws.receive()
        async with asyncio.timeout(TIMEOUT):
            await server.done.wait()
    assert error.type is aiohttp.WSMsgType.TEXT, error
    assert orjson.loads(error.data)["error"]["code"] == "message_too_big"
    assert closing.type is aiohttp.WSMsgType.CLOSE, closing
    assert (closing.data, closing.extra) == (1009, "message too big")
    assert upstream.close is not None
    assert upstream.texts == []

"""The hot path on bytes: frames forwarded as the UTF-8 bytes received, and the slow path's
handling of what the bytes path lets through (invalid UTF-8)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from proxy.core.commands import FORWARD, ToClient, ToUpstream
from proxy.core.sniff import sniff_type
from proxy.core.translate import Phase, Translator
from tests.support.core import CREATED, UPDATED, config, dumps
from tests.support.sockets import connect, receive_close, receive_json
from tests.support.stack import proxy_config

RULES = config().rules
APPEND = b'{"type":"input_audio_buffer.append","audio":"AAAA"}'
DELTA = b'{"type":"response.output_audio.delta","response_id":"r","delta":"AAAA"}'


def test_sniff_reads_bytes_like_text() -> None:
    """sniff_type gives the same answer for a frame's bytes as for its text."""
    for frame in (APPEND, DELTA, b'{"a":{"type":"x"}}', b'{ "type" : "ping" }'):
        assert sniff_type(frame) == sniff_type(frame.decode())
    assert sniff_type(APPEND) == "input_audio_buffer.append"
    assert sniff_type(b'{"a":{"type":"x"}}') is None
    assert sniff_type(b'{"type":"caf\xc3\xa9"}') == "caf\xc3\xa9"  # mangled: no known event
    assert sniff_type(b"\xff\xfe") is None


def test_appends_and_deltas_are_forwarded_without_a_copy() -> None:
    """An append, and an audio delta once the session is open, are answered with `FORWARD`
    (the relay sends the very bytes it received); before the session opens a delta is not."""
    tr = Translator(RULES)
    tr.start()
    assert tr.from_client(APPEND) is FORWARD
    assert tr.last_type == "input_audio_buffer.append"
    assert tr.delta_prefixes == ()  # not recognised by prefix before the session is open
    tr.from_upstream(dumps(CREATED).encode())
    tr.from_upstream(dumps(UPDATED).encode())
    assert tr.phase is Phase.OPEN
    assert tr.from_upstream(DELTA) is FORWARD
    assert tr.delta_prefixes
    assert DELTA.startswith(tr.delta_prefixes)
    assert APPEND.startswith(tr.append_prefixes)


def test_rewritten_frames_are_built_as_bytes() -> None:
    """A frame a rule changes comes back as new UTF-8 bytes (never str -> bytes again)."""
    tr = Translator(RULES)
    tr.start()
    update = b'{"type":"session.update","session":{"audio":{"output":{"voice":"marin"}}}}'
    [command] = tr.from_client(update)
    assert isinstance(command, ToUpstream)
    assert isinstance(command.text, bytes)
    assert orjson.loads(command.text)["session"]["audio"]["output"]["voice"] == "Sarah"


def test_unchanged_parsed_events_are_forwarded_too() -> None:
    """An event that is parsed but that no rule changes goes on as received (`FORWARD`)."""
    tr = Translator(RULES)
    tr.start()
    commit = b'{"type":"input_audio_buffer.commit","event_id":"c1"}'
    assert tr.from_client(commit) is FORWARD
    assert tr.last_event == {"type": "input_audio_buffer.commit", "event_id": "c1"}


def test_invalid_utf8_is_invalid_json() -> None:
    """Bytes that are not UTF-8 get the invalid_json error, not a crash."""
    [command] = Translator(RULES).from_client(b'{"type":"x","v":"\xff"}')
    assert isinstance(command, ToClient)
    assert orjson.loads(command.text)["error"]["code"] == "invalid_json"


async def test_relay_forwards_frames_byte_for_byte(fake_upstream: Any, start_proxy: Any) -> None:
    """Through the relay, an append arrives upstream unchanged (é and all); a message that is
    not UTF-8 fails the client's connection with 1007 and no error event (RFC 6455 §8.1)."""
    fake, url = await fake_upstream()
    proxy = await start_proxy(proxy_config(url))
    append = '{"type":"input_audio_buffer.append", "audio":"AAAA", "event_id":"é"}'
    async with connect(proxy) as ws:
        assert (await receive_json(ws))["type"] == "session.created"
        fake.got_frame.clear()
        await ws.send_str(append)
        async with asyncio.timeout(5):
            while append not in fake.received:
                fake.got_frame.clear()
                await fake.got_frame.wait()
        await ws.send_frame(b'{"type":"x","v":"\xff"}', aiohttp.WSMsgType.TEXT)
        assert await receive_close(ws) == (1007, "invalid UTF-8 in a text message")

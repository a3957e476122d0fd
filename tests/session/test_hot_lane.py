"""The relay's Python hot lane for audio appends (`Link.offer_hot` -> `Relay.hot_from_client`),
and the full path it falls back to, read by read over in-memory transports (`bench.memory`):
which frames take it, that they leave as the very bytes received, and that the metrics observer
still counts them exactly. With the native lane off (`server.native_lane = false`), as on an
install built without a C compiler; tests/session/test_native_lane.py covers the native one."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time

import orjson
import pytest

from bench.memory import (
    MemorySession,
    MemoryTransport,
    client_frame,
    memory_link,
    open_session,
    quiet_logger,
    server_frame,
)
from proxy.config import load
from proxy.core.events import APPEND_PREFIXES
from proxy.core.passthrough import RoutedTranslator
from proxy.core.translate import Translator
from proxy.metrics.observe import DOWN, NULL_SINK, UP, SessionObserver
from proxy.session.relay import Relay
from proxy.ws.frames import TEXT, FrameParser
from proxy.ws.link import Link

APPEND, DELTA = "input_audio_buffer.append", "response.output_audio.delta"


class Observer(SessionObserver):
    """A SessionObserver that records which of its hot-path methods took each frame, and the
    overhead samples."""

    def __init__(self) -> None:
        super().__init__(NULL_SINK, clock=time.monotonic, model_label=lambda _: "other")
        self.lane: list[str] = []  # "sized" (the hot lane) or "full" (payload measured)
        self.samples: list[str] = []

    def overhead(self, direction: str, seconds: float) -> None:
        self.samples.append(direction)

    def append_from_client(self, text: bytes) -> None:
        self.lane.append("full")
        super().append_from_client(text)

    def append_sized(self, length: int) -> bool:
        taken = super().append_sized(length)
        self.lane += ["sized"] if taken else []
        return taken

    def delta_from_upstream(self, text: bytes) -> None:
        self.lane.append("full")
        super().delta_from_upstream(text)


def append(ms: int, **extra: str) -> bytes:
    audio = base64.b64encode(bytes(48 * ms)).decode()
    return orjson.dumps({"type": APPEND, "audio": audio, **extra})


def delta(ms: int) -> bytes:
    audio = base64.b64encode(bytes(48 * ms)).decode()
    return orjson.dumps({"type": DELTA, "response_id": "resp_1", "delta": audio})


def sent(session: MemorySession, side: str, since: int) -> list[bytes]:
    transport = session.upstream_io if side == "upstream" else session.client_io
    assert transport.kept is not None
    return transport.kept[since:]


def written(session: MemorySession, side: str) -> int:
    return session.upstream_io.writes if side == "upstream" else session.client_io.writes


@pytest.mark.parametrize("direction", [UP, DOWN])
async def test_runs_of_one_length_are_relayed_as_received_and_counted_exactly(
    direction: str,
) -> None:
    """Appends: each new length goes the full way (measured), its repeats the lane. Deltas
    (no lane: a server's frames are not masked) go the full way, measured per new length.
    Every frame leaves as received; audio seconds, messages and bytes are exact."""
    observer = Observer()
    lengths_ms = [20, 20, 20, 10, 10, 20, 5]
    up = direction == UP
    payloads = [append(ms) if up else delta(ms) for ms in lengths_ms]
    frames = [client_frame(p) if up else server_frame(p) for p in payloads]
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer, keep=True, native_lane=False)
        reader, side = (session.client, "upstream") if up else (session.upstream, "client")
        before = written(session, side)
        for frame in frames:
            reader.data_received(frame)
        out = sent(session, side, before)
        session.relay.shut_down()
    assert out == frames
    lane = ["full", "sized", "sized", "full", "sized", "full", "full"]
    assert observer.lane == (lane if up else ["full"] * len(frames))
    observer.settle()
    kind = APPEND if up else DELTA
    assert observer.messages[direction][kind] == len(frames)
    assert observer.bytes[direction][kind] == sum(map(len, payloads))
    assert observer.audio_seconds[direction] == pytest.approx(sum(lengths_ms) / 1000)


async def test_frames_read_together_take_the_full_path_unchanged() -> None:
    """Two appends in one read are not offered to the lane; both leave as received, in one
    write, and are counted."""
    observer = Observer()
    frames = [client_frame(append(20)), client_frame(append(20))]
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer, keep=True, native_lane=False)
        before = written(session, "upstream")
        session.client.data_received(b"".join(frames))
        out = sent(session, "upstream", before)
        session.relay.shut_down()
    assert out == frames
    assert observer.lane == ["full", "full"]
    observer.settle()
    assert observer.audio_seconds[UP] == pytest.approx(0.04)


async def test_beta_clients_get_renamed_deltas() -> None:
    """For a beta client, deltas are renamed: none leaves as received. Only the client link
    offers a hot lane (appends), and not after the session ended."""
    observer = Observer()
    async with asyncio.TaskGroup() as tg:
        ga = await open_session(tg, native_lane=False)
        assert ga.client.offered == APPEND_PREFIXES
        assert ga.upstream.offered == ()
        ga.relay.shut_down()
        session = await open_session(
            tg, observer=observer, dialect="beta", keep=True, native_lane=False
        )
        before = written(session, "client")
        for _ in range(3):
            session.upstream.data_received(server_frame(delta(20)))
        out = sent(session, "client", before)
        session.relay.shut_down()
    assert ga.client.offered == ()  # detached at the end
    parser = FrameParser(masked=False, max_size=1 << 20)
    events = [orjson.loads(f.payload) for raw in out for f in parser.feed(raw) if f.opcode == TEXT]
    assert [e["type"] for e in events] == ["response.audio.delta"] * 3


async def test_a_frame_of_the_run_length_without_the_prefix_is_not_taken() -> None:
    """The lane takes a frame by its prefix, not by its length alone: an append with its keys
    in another order, as long as the run, is parsed and counted the full way."""
    observer = Observer()
    audio = base64.b64encode(bytes(48 * 20)).decode()
    reordered = orjson.dumps({"audio": audio, "type": APPEND})
    assert len(reordered) == len(append(20))
    frames = [client_frame(append(20)), client_frame(append(20)), client_frame(reordered)]
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer, keep=True, native_lane=False)
        before = written(session, "upstream")
        for frame in frames:
            session.client.data_received(frame)
        out = sent(session, "upstream", before)
        session.relay.shut_down()
    assert observer.lane == ["full", "sized"]  # the reordered one went through the translator
    assert out[:2] == frames[:2]
    [forwarded] = FrameParser(masked=True, max_size=1 << 20).feed(out[2])
    assert forwarded.payload == reordered  # unchanged, but framed anew by the relay
    observer.settle()
    assert observer.messages[UP][APPEND] == 3
    assert observer.audio_seconds[UP] == pytest.approx(0.06)


async def test_frames_are_counted_and_sampled_once_through_the_lane() -> None:
    """128 frames each way, nearly all through the lane: each counted once, two overhead
    samples per direction (1 in 64), audio exact."""
    observer = Observer()
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer, native_lane=False)
        end = session.relay.end
        up_before, down_before = end.frames_up, end.frames_down  # session.updated went down
        for _ in range(128):
            session.client.data_received(client_frame(append(20)))
            session.upstream.data_received(server_frame(delta(20)))
        counted = (end.frames_up - up_before, end.frames_down - down_before)
        session.relay.shut_down()
    assert counted == (128, 128)
    assert observer.lane.count("sized") == 127  # appends after the first; deltas: full path
    assert observer.samples.count(UP) == 2
    assert observer.samples.count(DOWN) == 2
    observer.settle()
    assert observer.messages[UP][APPEND] == observer.messages[DOWN][DELTA] == 128
    assert observer.audio_seconds[UP] == pytest.approx(128 * 0.02)


async def test_nothing_is_forwarded_after_the_session_ends() -> None:
    """Once the relay ends the session, lane frames are neither forwarded nor counted."""
    observer = Observer()
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer, native_lane=False)
        session.client.data_received(client_frame(append(20)))
        session.upstream.data_received(server_frame(delta(20)))
        session.relay.shut_down()
        writes = (session.upstream_io.writes, session.client_io.writes)
        session.client.data_received(client_frame(append(20)))
        session.upstream.data_received(server_frame(delta(20)))
        assert (session.upstream_io.writes, session.client_io.writes) == writes
    assert observer.lane == ["full", "full"]


async def test_a_slow_upstream_in_the_lane_ends_the_session_and_counts_the_frame() -> None:
    """A lane frame that meets a full upstream buffer is not written: the session ends with
    1013, and the frame counts as received (as on the full path)."""
    observer = Observer()
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer, native_lane=False)
        session.client.data_received(client_frame(append(20)))  # measured
        session.client.data_received(client_frame(append(20)))  # lane
        writes = session.upstream_io.writes
        session.upstream_io.backlog = 1 << 30  # the upstream stopped reading
        session.client.data_received(client_frame(append(20)))  # lane: not written
        assert session.upstream_io.writes == writes
    assert session.relay.end.reason == "upstream reads too slowly (limits.max_queued_bytes)"
    assert session.relay.end.client_code == 1013
    assert observer.lane == ["full", "sized", "sized"]
    observer.settle()
    assert observer.messages[UP][APPEND] == 3


async def test_frames_sent_before_the_upstream_opens_keep_their_order() -> None:
    """Appends that arrive while Inworld is being dialled wait, then go up in order, before
    and together with those after (the lane is not taken until the upstream is ready)."""
    cfg = load(None, {})
    client_io, upstream_io = MemoryTransport(keep=True), MemoryTransport(keep=True)
    client, upstream = memory_link(False, client_io), memory_link(True, upstream_io)
    dialling, release, dialled = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def dial() -> Link:
        dialling.set()
        await release.wait()
        dialled.set()
        return upstream

    limits = dataclasses.replace(cfg.limits, close_timeout=1.0)
    relay = Relay(
        client, dial, Translator(cfg.rules), quiet_logger(), limits=limits, native_lane=False
    )
    frames = [client_frame(append(ms)) for ms in (20, 20, 10, 20, 20, 20)]
    async with asyncio.TaskGroup() as tg:
        tg.create_task(relay.run())
        await dialling.wait()  # the client link is attached, the upstream not open
        for frame in frames[:3]:
            client.data_received(frame)
        assert upstream_io.writes == 0
        release.set()
        await dialled.wait()  # the early frames went up in the same step
        for frame in frames[3:]:
            client.data_received(frame)
        out = list(upstream_io.kept or [])
        relay.shut_down()
    parser = FrameParser(masked=True, max_size=1 << 20)
    payloads = [frame.payload for raw in out for frame in parser.feed(raw)]
    assert payloads[0].startswith(b'{"type":"session.update"')  # the proxy's own, first
    assert out[1 : 1 + len(frames)] == frames


async def test_pass_through_sessions_relay_deltas_as_received_from_the_start() -> None:
    """A session routed to OpenAI itself (pass-through) forwards deltas as received as soon as
    the upstream is open (no session.updated to wait for), and appends through the lane."""
    cfg = load(None, {})
    client_io, upstream_io = MemoryTransport(keep=True), MemoryTransport(keep=True)
    client, upstream = memory_link(False, client_io), memory_link(True, upstream_io)
    dialled = asyncio.Event()

    async def dial() -> Link:
        dialled.set()
        return upstream

    translator = RoutedTranslator(cfg.rules)
    translator.passthrough = True
    observer = Observer()
    limits = dataclasses.replace(cfg.limits, close_timeout=1.0)
    relay = Relay(
        client, dial, translator, quiet_logger(), observer, limits=limits, native_lane=False
    )
    frames = [server_frame(delta(20)) for _ in range(3)]
    appends = [client_frame(append(20)) for _ in range(2)]
    async with asyncio.TaskGroup() as tg:
        tg.create_task(relay.run())
        await dialled.wait()
        for frame in frames:
            upstream.data_received(frame)
        for frame in appends:
            client.data_received(frame)
        out = list(client_io.kept or [])
        up = list(upstream_io.kept or [])
        relay.shut_down()
    assert out == frames
    assert up == appends  # pass-through: no session.update of the proxy's own
    assert observer.lane == ["full", "full", "full", "full", "sized"]

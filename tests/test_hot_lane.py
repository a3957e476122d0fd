"""The relay's hot lane (`Link.offer_hot` -> `Relay.hot_from_client`/`hot_from_upstream`), read
by read over in-memory transports (`bench.memory`): which frames take it, that they leave as
the very bytes received, and that the metrics observer still counts them exactly."""

from __future__ import annotations

import asyncio
import base64
import time

import orjson
import pytest

from bench.memory import MemorySession, client_frame, open_session, server_frame
from proxy.frames import TEXT, FrameParser
from proxy.observe import DOWN, NULL_SINK, UP, SessionObserver

APPEND, DELTA = "input_audio_buffer.append", "response.output_audio.delta"


class Observer(SessionObserver):
    """A SessionObserver that records which of its hot-path methods took each frame."""

    def __init__(self) -> None:
        super().__init__(NULL_SINK, clock=time.monotonic, model_label=lambda _: "other")
        self.lane: list[str] = []  # "sized" (the hot lane) or "full" (payload measured)

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

    def delta_sized(self, length: int) -> bool:
        taken = super().delta_sized(length)
        self.lane += ["sized"] if taken else []
        return taken


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
async def test_runs_of_one_length_take_the_lane_and_count_exactly(direction: str) -> None:
    """Each new length goes the full way (measured), its repeats the lane; every frame leaves
    as received and audio seconds, messages and bytes are exact."""
    observer = Observer()
    lengths_ms = [20, 20, 20, 10, 10, 20, 5]
    up = direction == UP
    payloads = [append(ms) if up else delta(ms) for ms in lengths_ms]
    frames = [client_frame(p) if up else server_frame(p) for p in payloads]
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer, keep=True)
        reader, side = (session.client, "upstream") if up else (session.upstream, "client")
        before = written(session, side)
        for frame in frames:
            reader.data_received(frame)
        out = sent(session, side, before)
        session.relay.shut_down()
    assert out == frames
    assert observer.lane == ["full", "sized", "sized", "full", "sized", "full", "full"]
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
        session = await open_session(tg, observer=observer, keep=True)
        before = written(session, "upstream")
        session.client.data_received(b"".join(frames))
        out = sent(session, "upstream", before)
        session.relay.shut_down()
    assert out == frames
    assert observer.lane == ["full", "full"]
    observer.settle()
    assert observer.audio_seconds[UP] == pytest.approx(0.04)


async def test_beta_clients_get_renamed_deltas_not_the_lane() -> None:
    """For a beta client, deltas are renamed: none may slip through the lane as received."""
    observer = Observer()
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer, dialect="beta", keep=True)
        before = written(session, "client")
        for _ in range(3):
            session.upstream.data_received(server_frame(delta(20)))
        out = sent(session, "client", before)
        session.relay.shut_down()
    assert "sized" not in observer.lane
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
        session = await open_session(tg, observer=observer, keep=True)
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

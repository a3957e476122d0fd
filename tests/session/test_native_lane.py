"""The relay with its native lanes (`proxy.ws.lane`, `server.native_lane`), read by read over
in-memory transports (`bench.memory`; each read goes to the transport's protocol, the lane in
front of the link): which frames the lanes take, that every frame leaves as received and in
order, that the metrics and the session's counts stay exact, and when the relay keeps a lane
disarmed (a watched response, a shadow, DEBUG lines, a backed-up peer, the end)."""

from __future__ import annotations

import asyncio
import base64
import logging
import time

import orjson
import pytest
import structlog

from bench.memory import MemorySession, client_frame, open_session, server_frame
from proxy.metrics.observe import DOWN, NULL_SINK, UP, SessionObserver
from proxy.ws.lane import NATIVE
from proxy.ws.link import Link

pytestmark = pytest.mark.skipif(not NATIVE, reason="the extension was not built")

APPEND, DELTA = "input_audio_buffer.append", "response.output_audio.delta"


class Observer(SessionObserver):
    """Records the frames the Python path measured ("full") and the overhead samples."""

    def __init__(self) -> None:
        super().__init__(NULL_SINK, clock=time.monotonic, model_label=lambda _: "other")
        self.full: list[str] = []
        self.samples: list[str] = []

    def overhead(self, direction: str, seconds: float) -> None:
        self.samples.append(direction)

    def append_from_client(self, text: bytes) -> None:
        self.full.append(UP)
        super().append_from_client(text)

    def delta_from_upstream(self, text: bytes) -> None:
        self.full.append(DOWN)
        super().delta_from_upstream(text)


def append(ms: int) -> bytes:
    audio = base64.b64encode(bytes(48 * ms)).decode()
    return client_frame(orjson.dumps({"type": APPEND, "audio": audio}))


def delta(ms: int) -> bytes:
    audio = base64.b64encode(bytes(48 * ms)).decode()
    return server_frame(orjson.dumps({"type": DELTA, "response_id": "resp_1", "delta": audio}))


def event(kind: str, *, client: bool, **fields: object) -> bytes:
    payload = orjson.dumps({"type": kind, **fields})
    return client_frame(payload) if client else server_frame(payload)


def kept(session: MemorySession, side: str) -> list[bytes]:
    transport = session.upstream_io if side == "upstream" else session.client_io
    assert transport.kept is not None
    return list(transport.kept)


def lanes(session: MemorySession) -> tuple[int, int]:
    """Frames each link's lane took so far (appends, deltas)."""
    up, down = session.client.lane, session.upstream.lane
    assert up is not None
    assert down is not None
    return up.count, down.count


async def test_runs_go_through_the_lanes_as_received_and_are_counted_exactly() -> None:
    """Each new length takes the Python path (measured), its repeats the lane; every frame
    leaves as received, in order; messages, bytes and audio seconds are exact."""
    observer = Observer()
    lengths = [20, 20, 20, 10, 10, 20, 20]
    ups, downs = [append(ms) for ms in lengths], [delta(ms) for ms in lengths]
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer, keep=True)
        assert session.client_io.get_protocol() is session.client.lane
        before = len(kept(session, "upstream")), len(kept(session, "client"))
        for up, down in zip(ups, downs, strict=True):
            session.client_io.feed(up)
            session.upstream_io.feed(down)
        assert kept(session, "upstream")[before[0] :] == ups
        assert kept(session, "client")[before[1] :] == downs
        assert lanes(session) == (4, 4)  # all but the three new lengths
        session.relay.shut_down()
    assert observer.full == [UP, DOWN] * 3
    observer.settle()
    assert observer.messages[UP][APPEND] == observer.messages[DOWN][DELTA] == len(lengths)
    assert observer.audio_seconds[UP] == pytest.approx(sum(lengths) / 1000)
    assert observer.audio_seconds[DOWN] == pytest.approx(sum(lengths) / 1000)


async def test_one_frame_in_64_of_each_direction_is_left_to_python_and_timed() -> None:
    """128 frames each way: two overhead samples per direction, as without a lane, and the
    session's message counts include the lanes' frames."""
    observer = Observer()
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer)
        end = session.relay.end
        up_before, down_before = end.frames_up, end.frames_down
        for _ in range(128):
            session.client_io.feed(append(20))
            session.upstream_io.feed(delta(20))
        taken = lanes(session)
        session.relay.shut_down()
    assert taken == (125, 125)  # the first (new length) and the two samples went to Python
    assert observer.samples.count(UP) == observer.samples.count(DOWN) == 2
    assert (end.frames_up - up_before, end.frames_down - down_before) == (128, 128)
    observer.settle()
    assert observer.messages[UP][APPEND] == observer.messages[DOWN][DELTA] == 128


async def test_a_responses_first_delta_is_timed_then_its_audio_takes_the_lane() -> None:
    """While the observer waits for a response's first audio (turn latency), deltas take the
    Python path; once it has it, the rest take the lane."""
    observer = Observer()
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, observer=observer)
        session.upstream_io.feed(delta(20))  # before any response: measured, lane armed
        session.upstream_io.feed(delta(20))
        assert lanes(session) == (0, 1)
        session.client_io.feed(event("input_audio_buffer.commit", client=True))
        session.upstream_io.feed(event("response.created", client=False, response={}))
        session.upstream_io.feed(delta(20))  # the response's first: Python, timed
        session.upstream_io.feed(delta(20))
        session.upstream_io.feed(delta(20))
        taken = lanes(session)
        session.relay.shut_down()
    assert taken == (0, 3)
    assert observer.turns == 1
    observer.settle()
    assert observer.messages[DOWN][DELTA] == 5


async def test_a_shadow_gets_every_append_so_the_lane_stays_disarmed() -> None:
    frames: list[bytes] = []

    class Tap:
        def frame(self, raw: bytes) -> None:
            frames.append(raw)

        def message(self, data: bytes) -> None:
            pass

    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg)
        session.client_io.feed(append(20))
        session.relay.shadow = Tap()  # set late: the relay disarms the lane at once
        sent = [append(20) for _ in range(5)]
        for frame in sent:
            session.client_io.feed(frame)
        taken = lanes(session)
        session.relay.shut_down()
    assert taken[0] == 0
    assert frames == sent


async def test_debug_lines_keep_both_lanes_disarmed() -> None:
    lines: list[str] = []

    def keep(_logger: object, _method: str, event_dict: dict[str, object]) -> str:
        lines.append(str(event_dict.get("event_type")))
        return ""

    log: structlog.typing.FilteringBoundLogger = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[keep],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, log=log)
        for _ in range(3):
            session.client_io.feed(append(20))
            session.upstream_io.feed(delta(20))
        taken = lanes(session)
        session.relay.shut_down()
    assert taken == (0, 0)
    assert lines.count(APPEND) == 3
    assert lines.count(DELTA) == 3


async def test_a_backed_up_upstream_disarms_the_lane_and_ends_the_session_with_1013() -> None:
    """Over `max_queued_bytes` queued, the transport pauses the link's writing: the lane
    stops, the next append takes the checked path, which ends the session as a slow
    reader (as without a lane); nothing more is written."""
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg)
        session.client_io.feed(append(20))
        session.client_io.feed(append(20))
        assert lanes(session)[0] == 1
        writes = session.upstream_io.writes
        session.upstream_io.backlog = 1 << 30  # the upstream stopped reading
        assert session.upstream.write_paused
        session.client_io.feed(append(20))
        assert session.upstream_io.writes == writes
    assert session.relay.end.reason == "upstream reads too slowly (limits.max_queued_bytes)"
    assert session.relay.end.client_code == 1013


async def test_nothing_goes_through_a_lane_once_the_session_ends() -> None:
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg)
        session.client_io.feed(append(20))
        session.client_io.feed(append(20))
        session.relay.shut_down()
        writes = session.upstream_io.writes, session.client_io.writes
        session.client_io.feed(append(20))
        session.upstream_io.feed(delta(20))
        assert (session.upstream_io.writes, session.client_io.writes) == writes
    assert session.client.lane is not None
    assert session.client.lane.write is None


async def test_with_the_lane_off_the_link_is_the_protocol() -> None:
    async with asyncio.TaskGroup() as tg:
        session = await open_session(tg, native_lane=False)
        assert isinstance(session.client_io.get_protocol(), Link)
        assert session.client.lane is None
        session.client_io.feed(append(20))
        session.relay.shut_down()

"""proxy.webrtc.playout: the outgoing buffer and its output_audio_buffer.* events, by frame."""

from __future__ import annotations

from proxy.webrtc.playout import Playout

FRAME = 960  # 20 ms of PCM16 24 kHz mono


def audio(frames: int, value: int = 1) -> bytes:
    return bytes([value]) * (FRAME * frames)


def types(events: list[dict]) -> list[str]:
    return [e["type"].rsplit(".", 1)[1] for e in events]


def test_started_on_first_audio_stopped_after_done_and_drained() -> None:
    playout = Playout()
    assert playout.pull() == (bytes(FRAME), [])  # silence, no event
    started = playout.push("resp_1", "item_1", audio(2))
    assert types(started) == ["started"]
    assert started[0]["response_id"] == "resp_1"
    assert started[0]["event_id"].startswith("event_")
    pcm, events = playout.pull()
    assert pcm == audio(1)
    assert events == []
    assert playout.response_done("resp_1") == []  # one frame still queued
    pcm, events = playout.pull()
    assert pcm == audio(1)
    assert types(events) == ["stopped"]
    assert playout.pull() == (bytes(FRAME), [])


def test_done_after_the_audio_played_stops_at_once() -> None:
    playout = Playout()
    playout.push("resp_1", "item_1", audio(1))
    playout.pull()
    assert types(playout.response_done("resp_1")) == ["stopped"]
    assert playout.response_done("resp_1") == []


def test_partial_frames_are_padded_and_joined() -> None:
    playout = Playout()
    playout.push("r", "i", b"\x01" * 500)
    playout.push("r", "i", b"\x02" * 500)
    pcm, _ = playout.pull()
    assert pcm == b"\x01" * 500 + b"\x02" * 460
    pcm, _ = playout.pull()
    assert pcm == b"\x02" * 40 + bytes(FRAME - 40)


def test_clear_drops_everything_and_truncates_to_what_was_played() -> None:
    playout = Playout()
    playout.push("resp_1", "item_1", audio(10))
    for _ in range(3):
        playout.pull()
    cleared = playout.clear()
    assert types(cleared.events) == ["cleared"]
    assert cleared.events[0]["response_id"] == "resp_1"
    assert cleared.truncation is not None
    assert (cleared.truncation.item_id, cleared.truncation.audio_end_ms) == ("item_1", 60)
    assert cleared.truncation.event()["type"] == "conversation.item.truncate"
    assert not cleared.finished
    assert playout.pull() == (bytes(FRAME), [])  # the very next frame is silence
    assert playout.push("resp_1", "item_1", audio(1)) == []  # late deltas are dropped
    assert playout.pull() == (bytes(FRAME), [])
    assert playout.response_done("resp_1") == []  # no stopped after cleared
    assert types(playout.push("resp_2", "item_2", audio(1))) == ["started"]


def test_clear_with_nothing_playing() -> None:
    playout = Playout()
    assert playout.clear().events == []  # server VAD over silence: nothing to say
    forced = playout.clear(always=True)  # the client asked: it is answered
    assert types(forced.events) == ["cleared"]
    assert forced.truncation is None


def test_clear_after_the_response_finished_upstream() -> None:
    playout = Playout()
    playout.push("resp_1", "item_1", audio(5))
    playout.pull()
    playout.response_done("resp_1")
    cleared = playout.clear()
    assert cleared.finished
    assert cleared.truncation is not None
    assert cleared.truncation.audio_end_ms == 20


def test_a_queued_reply_never_heard_truncates_to_zero() -> None:
    playout = Playout()
    playout.push("resp_1", "item_1", audio(2))
    cleared = playout.clear()
    assert cleared.truncation is not None
    assert cleared.truncation.audio_end_ms == 0


def test_next_response_stops_the_previous_one() -> None:
    playout = Playout()
    assert types(playout.push("resp_1", "item_1", audio(1))) == ["started"]
    assert playout.push("resp_2", "item_2", audio(1)) == []  # resp_1 is still to be played
    assert playout.pull()[1] == []
    events = playout.pull()[1]
    assert types(events) == ["stopped", "started"]
    assert [e["response_id"] for e in events] == ["resp_1", "resp_2"]

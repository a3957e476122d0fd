"""The proxy's own Python per audio frame, without sockets: what each piece of the hot path costs.

    python -m bench.hotpath                 # 20000 frames each way, best of 7 repeats
    python -m bench.hotpath --instructions  # instructions per frame, under valgrind (repeatable)
    python -m bench.hotpath --smoke --json out.json   # a fraction of a second (CI)

Drives the real `Link`s, `Relay`, `Translator` and `SessionObserver` of one session over
in-memory transports (`bench.memory`): each client audio append (a masked frame, as clients
send it) and each upstream audio delta is handed to the receiving transport's protocol (the
native lane in front of the link, or the link itself) as one read, as on the real path at
real-time pace, and must come out on the other side as the very bytes received. The time per
frame is the proxy's own user-space work alone (Python, and C for the native lane): no
syscalls, no event-loop wake-ups, no other process (the transports' own bookkeeping, a few
attribute updates per write, is included). `bench.relay` measures the whole cost (the
kernel's share dominates there).

Variants, each in its own session:

- `proxy`: the default configuration (metrics observer on, INFO logging, the native lane
  when it was built);
- `python-lane`: the same with `server.native_lane = false` (the Python path alone, as an
  install built without a C compiler runs);
- `no-metrics`: the observer's hot-path methods do nothing, native lane off (the difference
  from `python-lane` is what metrics cost per audio frame on the Python path);
- `debug-log`: DEBUG logging (one JSON line per message, to /dev/null), for scale.

Reported per variant and direction: the best (minimum) of `--repeats` timings of `--frames`
frames, in ns of this thread's CPU time per frame (the sessions are timed in turn, so each
sees the same machine); on a shared machine these still move by tens of percent. With
`--instructions`, valgrind's callgrind counts the instructions per frame instead (with
PYTHONHASHSEED=0): slow, but the same count on every run, so a change of a few percent is
visible.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import gc
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import orjson
import structlog

from bench.memory import MemorySession, MemoryTransport, client_frame, open_session, server_frame
from proxy.metrics.observe import NULL_SINK, SessionObserver
from proxy.web.logs import Redactor, line_processors

__all__ = ["APPEND_FRAME", "DELTA_FRAME", "VARIANTS", "main", "measure"]

VARIANTS = ("proxy", "python-lane", "no-metrics", "debug-log")
_AUDIO = base64.b64encode(os.urandom(1920)).decode()  # 20 ms of PCM16 24 kHz mono
_APPEND = orjson.dumps({"type": "input_audio_buffer.append", "audio": _AUDIO})
_DELTA = orjson.dumps(
    {
        "type": "response.output_audio.delta",
        "event_id": "event_1",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "delta": _AUDIO,
    }
)
APPEND_FRAME = client_frame(_APPEND)
DELTA_FRAME = server_frame(_DELTA)


class _NoMetrics(SessionObserver):
    """An observer whose hot-path methods do nothing (and take every frame in the hot lane)."""

    def append_from_client(self, text: bytes) -> None:
        pass

    def append_sized(self, length: int) -> bool:
        return True

    def delta_from_upstream(self, text: bytes) -> None:
        pass


def _logger(level: int) -> structlog.typing.FilteringBoundLogger:
    """The proxy's JSON log pipeline (`proxy.web.logs.line_processors`, redacting a configured
    key) writing to /dev/null, bound to a session as `proxy.web.realtime` binds it."""
    sink = open(os.devnull, "wb")  # noqa: SIM115 (lives as long as the process)
    logger: structlog.typing.FilteringBoundLogger = structlog.wrap_logger(
        structlog.BytesLogger(sink),
        processors=line_processors(Redactor(["bench-inworld-key-0123456789"])),
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )
    return logger.bind(session_id="sess_bench", inworld_session_key="bench-0001")


@dataclasses.dataclass
class _Timed:
    """One variant's in-memory session, and its best timings so far (ns per frame)."""

    variant: str
    session: MemorySession
    up_ns: float = float("inf")
    down_ns: float = float("inf")

    def time(self, frames: int, directions: str) -> None:
        """Time `frames` appends up, then `frames` deltas down (`directions`: `both`, `up` or
        `down`); keep the best of each."""
        s = self.session
        if directions != "down":
            self.up_ns = min(self.up_ns, _time(s.client_io, APPEND_FRAME, s.upstream_io, frames))
        if directions != "up":
            self.down_ns = min(self.down_ns, _time(s.upstream_io, DELTA_FRAME, s.client_io, frames))


def _time(reading: MemoryTransport, frame: bytes, out: MemoryTransport, frames: int) -> float:
    """ns per frame for `frames` reads of `frame` by `reading`'s protocol, each of which must
    make `out` write `frame` itself (the hot path: forwarded as received)."""
    feed, before = cast(asyncio.Protocol, reading.get_protocol()).data_received, out.writes
    gc.disable()  # as timeit does: a collection is not the hot path's cost
    try:
        started = time.thread_time_ns()
        for _ in range(frames):
            feed(frame)
        elapsed = time.thread_time_ns() - started
    finally:
        gc.enable()
    if out.writes - before != frames or out.last != frame:
        raise AssertionError("a frame was not forwarded as received")
    return elapsed / frames


async def _open(variant: str, tg: asyncio.TaskGroup) -> _Timed:
    """An open in-memory session of `variant` (its deltas are hot), run in `tg`."""
    observer_type = _NoMetrics if variant == "no-metrics" else SessionObserver
    observer = observer_type(NULL_SINK, clock=time.monotonic, model_label=lambda _: "other")
    log = _logger(logging.DEBUG if variant == "debug-log" else logging.INFO)
    native = variant not in ("python-lane", "no-metrics")
    return _Timed(variant, await open_session(tg, observer=observer, log=log, native_lane=native))


async def measure(
    variants: list[str], frames: int, repeats: int, directions: str = "both"
) -> list[dict[str, Any]]:
    """Open one in-memory session per variant; time them in turn, `repeats` times (so each
    sees the same machine conditions); close them. The best timing of each is reported.

    Raises:
        AssertionError: a frame was not forwarded as the very bytes received.
    """
    async with asyncio.TaskGroup() as tg:
        sessions = [await _open(variant, tg) for variant in variants]
        for _ in range(repeats):
            for session in sessions:
                session.time(frames, directions)
        for timed in sessions:
            timed.session.relay.shut_down()
    return [
        {
            "variant": t.variant,
            "frames": frames * repeats,
            "up_ns_per_frame": t.up_ns,
            "down_ns_per_frame": t.down_ns,
            "frames_up": t.session.relay.end.frames_up,
            "frames_down": t.session.relay.end.frames_down,
        }
        for t in sessions
    ]


def _table(rows: list[dict[str, Any]], key: str, unit: str) -> str:
    base = rows[0]
    lines = [
        f"| variant | client -> upstream {unit} | upstream -> client {unit} | "
        f"vs {base['variant']} (up / down) |",
        "|---|---|---|---|",
    ]
    for row in rows:
        up, down = row[f"up_{key}"], row[f"down_{key}"]
        delta = f"{up - base[f'up_{key}']:+.0f} / {down - base[f'down_{key}']:+.0f}"
        lines.append(f"| {row['variant']} | {up:.0f} | {down:.0f} | {delta} |")
    return "\n".join(lines)


def _collected(variant: str, direction: str, frames: int) -> int:
    """Instructions callgrind counts for a whole run of this module with `frames` frames."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "bench.hotpath", "--frames", str(frames), "--repeats", "1",
        "--variants", variant, "--directions", direction,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts on every run
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count from callgrind: {done.stderr[-500:]}")
    return int(match[1])


def instructions(variants: list[str], frames: int) -> list[dict[str, Any]]:
    """Instructions per frame, per variant and direction, under valgrind's callgrind: the
    count of a run with `frames` frames minus that of a run with `frames // 5`, divided by
    the difference (start-up and session set-up cancel out). Repeatable to a few
    instructions whatever else the machine does; slow (each run takes seconds)."""
    few = frames // 5
    rows = []
    for variant in variants:
        row: dict[str, Any] = {"variant": variant, "frames": frames}
        for direction in ("up", "down"):
            more = _collected(variant, direction, frames) - _collected(variant, direction, few)
            row[f"{direction}_instructions_per_frame"] = more / (frames - few)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure every variant; print a Markdown table; optionally write JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.hotpath", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--frames", type=int, default=20000, help="frames per timed run")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs; the best is kept")
    parser.add_argument("--variants", nargs="*", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--directions", choices=("both", "up", "down"), default="both")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per frame under valgrind (apt-get install valgrind; slow)",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--smoke", action="store_true", help="200 frames, 2 repeats")
    args = parser.parse_args(argv)
    if args.smoke:
        args.frames, args.repeats = 200, 2
    if args.instructions:
        frames = min(args.frames, 2500)
        rows = instructions(args.variants, frames)
        print(f"Python {sys.version.split()[0]}, callgrind, {frames} frames each way")
        print(_table(rows, "instructions_per_frame", "instructions/frame"))
    else:
        rows = asyncio.run(measure(args.variants, args.frames, args.repeats, args.directions))
        print(
            f"Python {sys.version.split()[0]}, {args.frames} frames x {args.repeats} repeats "
            "(best kept); each frame: 20 ms of PCM16 24 kHz audio, 2.6 KB"
        )
        print(_table(rows, "ns_per_frame", "ns/frame"))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

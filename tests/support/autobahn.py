"""Autobahn TestSuite (`wstest`, Python 2.7) as a test tool: servers on loopback, runs, results.

`wstest` comes from `/opt/autobahn/venv` (`.ci/run` builds it from
`tests/system/autobahn/requirements-py27.txt`). Its servers listen on every interface and it
has no option to change that, so each `wstest` runs under `LOOPBACK`, which makes autobahn's
`listenWS` bind 127.0.0.1 before `wstest` starts. Reports are read from the `index.json`
`wstest` writes; `table()` renders one row per case.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CASES",
    "NON_STRICT",
    "WSTEST",
    "Result",
    "free_port",
    "problems",
    "read_results",
    "run_wstest",
    "table",
    "wait_port",
    "write_spec",
    "wstest_server",
]

WSTEST = Path("/opt/autobahn/venv/bin/wstest")
PYTHON2 = WSTEST.parent / "python"
CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.1.*", "9.2.*", "10.*"]

# NON-STRICT is accepted only here (docs/development.md, "WebSocket conformance"). A valid
# message, then a protocol violation in the same burst: OK means the echo of the message came
# back before the connection was failed. The proxy fails the client's connection as soon as
# it reads the bad frame, while the echo is still on its way back from the upstream (Autobahn's
# own echo server, tested directly, is NON-STRICT on all of these but 3.4, whose bytes come one
# by one with pauses). 6.4.3/6.4.4: invalid UTF-8 in the middle of ONE frame that arrives in
# pieces a second apart; a frame's UTF-8 is checked once the frame is whole (fragments, 6.4.1/
# 6.4.2, are checked as they arrive), so the connection fails a second later than it could.
NON_STRICT = {
    "relay": frozenset(
        {"3.2", "3.3", "3.4", "4.1.3", "4.1.4", "4.1.5", "4.2.3", "4.2.4", "4.2.5", "5.15"}
        | {"6.4.3", "6.4.4"}
    ),
    "client": frozenset({"6.4.3", "6.4.4"}),
}
_GOOD = frozenset({"OK", "INFORMATIONAL"})

# Run as `python2 -c LOOPBACK <wstest arguments>`: wstest with every listener on 127.0.0.1.
LOOPBACK = """
import sys
from autobahn.twisted import websocket
_listen = websocket.listenWS
def listenWS(factory, contextFactory=None, backlog=50, interface="127.0.0.1"):
    return _listen(factory, contextFactory, backlog, "127.0.0.1")
websocket.listenWS = listenWS
from autobahntestsuite import echo, fuzzing, wstest
echo.listenWS = fuzzing.listenWS = listenWS
sys.argv[0] = "wstest"
sys.exit(wstest.run())
"""


@dataclass(frozen=True)
class Result:
    """One case as Autobahn judged it."""

    case: str
    behavior: str  # OK, NON-STRICT, INFORMATIONAL, FAILED, UNIMPLEMENTED
    close: str  # OK, INFORMATIONAL, FAILED, WRONG CODE, UNCLEAN
    duration_ms: int
    remote_code: int | None
    detail: str  # Autobahn's own words when the case is not OK

    @property
    def key(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.case.split("."))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_port(port: int, process: asyncio.subprocess.Process, seconds: float) -> None:
    """Until something accepts on 127.0.0.1:`port` (a server has no other way to say so)."""
    async with asyncio.timeout(seconds):
        while True:
            if process.returncode is not None:
                raise AssertionError(f"the server on port {port} exited ({process.returncode})")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.05)


async def run_wstest(*args: str, cwd: Path, log: Path) -> asyncio.subprocess.Process:
    """Start `wstest ARGS` (listeners on loopback), its output going to `log`."""
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            str(PYTHON2), "-c", LOOPBACK, *args, cwd=cwd, stdout=out, stderr=out
        )


@contextlib.asynccontextmanager
async def wstest_server(mode: str, port: int, tmp: Path, *args: str) -> AsyncIterator[None]:
    """`wstest -m MODE` listening on 127.0.0.1:`port` for the duration of the block."""
    process = await run_wstest("-m", mode, *args, "-u", "0", cwd=tmp, log=tmp / f"{mode}.log")
    try:
        await wait_port(port, process, seconds=30)
        yield
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def write_spec(path: Path, **spec: Any) -> Path:
    """A wstest spec file with the cases under test."""
    path.write_text(json.dumps({"cases": CASES, "exclude-cases": [], **spec}, indent=2))
    return path


def read_results(report_dir: Path) -> list[Result]:
    """Every case of the one agent in `report_dir/index.json`, in case order."""
    index = json.loads((report_dir / "index.json").read_text())
    [cases] = index.values()
    results = []
    for case, entry in cases.items():
        detail = ""
        if entry["behavior"] not in _GOOD or entry["behaviorClose"] not in _GOOD:
            report = json.loads((report_dir / entry["reportfile"]).read_text())
            detail = f"{report.get('result', '')} | {report.get('resultClose', '')}"
        results.append(
            Result(
                case,
                entry["behavior"],
                entry["behaviorClose"],
                int(entry["duration"]),
                entry.get("remoteCloseCode"),
                detail,
            )
        )
    return sorted(results, key=lambda r: r.key)


def problems(results: Iterable[Result], non_strict: frozenset[str]) -> list[Result]:
    """The cases that fail the bar: anything but OK/INFORMATIONAL, NON-STRICT outside
    `non_strict`, or a close that is not OK/INFORMATIONAL."""
    return [
        r
        for r in results
        if (r.behavior not in _GOOD and not (r.behavior == "NON-STRICT" and r.case in non_strict))
        or r.close not in _GOOD
    ]


def table(results: list[Result]) -> str:
    """Counts per behaviour and close behaviour, then one line per case."""
    behaviors: dict[str, int] = {}
    closes: dict[str, int] = {}
    for r in results:
        behaviors[r.behavior] = behaviors.get(r.behavior, 0) + 1
        closes[r.close] = closes.get(r.close, 0) + 1
    lines = [
        f"{len(results)} cases; behavior {behaviors}; close {closes}",
        f"{'case':<8} {'behavior':<13} {'close':<11} {'ms':>6} {'code':>5}  detail",
    ]
    for r in results:
        code = "-" if r.remote_code is None else str(r.remote_code)
        lines.append(
            f"{r.case:<8} {r.behavior:<13} {r.close:<11} {r.duration_ms:>6} {code:>5}  {r.detail}"
        )
    return "\n".join(lines)

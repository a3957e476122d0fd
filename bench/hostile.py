"""Hostile clients against a real proxy process: what holds, in memory and descriptors.

    .venv/bin/python -m bench.hostile                 # both attacks, uvloop and asyncio
    .venv/bin/python -m bench.hostile --loop asyncio  # one loop
    .venv/bin/python -m bench.hostile --json out.json

The proxy runs as `python -m proxy serve --emulator` with a client key, `ulimit -n 256` (set
in the child before exec) and the default `[limits]`. Two attacks, each from one loopback
client that holds no key, then one keyed client that runs a spoken turn:

- **half-open**: 300 connections that send `GET /v1/realtime HTTP/1.1\\r\\nHost: x\\r\\n`
  and stop (issue 18: with `ulimit -n 256`, all stayed open, a keyed request timed out and
  asyncio logged 686,917 lines in two minutes);
- **big headers**: 200 connections that each send up to 120 headers of 8 KiB and never
  finish (issue 18: RSS 109 -> 438 MiB);
- **full headers**: 200 connections that each send 3 headers of 8 KiB (just under
  `limits.max_header_bytes`, so nothing cuts them) and never finish.

Reported per attack: the proxy's RSS before, at its peak during the attack (VmHWM) and after;
its open descriptors before, at most during the attack (sampled every 50 ms) and after; how
long the keyed turn took; when the attack's connections were closed; how many log lines the
proxy wrote meanwhile. Figures to hold (issue 18): the turn within 10 s, every half-open
connection closed within `limits.header_timeout` (10 s), fewer than 100 log lines, RSS growth
under 64 MiB with 200 big-header connections. `tests/system/test_hostile.py` asserts the
functional ones with these same primitives.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.procs import rss_kib
from proxy.emulator import pcm16_silence, pcm16_tone

__all__ = [
    "HALF_OPEN",
    "Conn",
    "ProxyProcess",
    "big_headers",
    "closed_within",
    "fd_count",
    "half_open",
    "proxy_process",
    "spoken_turn",
]

ROOT = Path(__file__).resolve().parent.parent
HALF_OPEN = b"GET /v1/realtime HTTP/1.1\r\nHost: x\r\n"
TIMEOUT = 30.0


@dataclass
class ProxyProcess:
    """A proxy process and every line it wrote (stdout and stderr), as it writes them."""

    process: Any
    port: int
    url: str
    event_loop: str
    lines: list[bytes] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def records(self, since: int = 0) -> list[dict[str, Any]]:
        """The JSON log lines from line `since` on (others are skipped)."""
        out = []
        for line in self.lines[since:]:
            with contextlib.suppress(orjson.JSONDecodeError):
                record = orjson.loads(line)
                if isinstance(record, dict):
                    out.append(record)
        return out

    async def metric(self, name: str, **labels: str) -> float:
        """A sample of the proxy's /metrics (0 when absent)."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            text = await response.text()
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            head, _, value = line.rpartition(" ")
            if head == (f"{name}{{{want}}}" if want else name):
                return float(value)
        return 0.0


def _nofile(limit: int) -> Any:
    def apply() -> None:  # runs in the child, before exec
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

    return apply


@contextlib.asynccontextmanager
async def proxy_process(
    *,
    env: Mapping[str, str] | None = None,
    config: str | None = None,
    nofile: int | None = 256,
    tmp: Path | None = None,
) -> AsyncIterator[ProxyProcess]:
    """`python -m proxy serve --emulator --port 0` with JSON logs, `ulimit -n nofile`, the
    extra `env`, and `config` (TOML text, written to a file in `tmp`); stopped with SIGTERM."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("INWORLD_", "PROXY_"))}
    full.update({"PROXY_LOG_FORMAT": "json", **(env or {})})
    argv = [sys.executable, "-m", "proxy", "serve", "--emulator", "--port", "0"]
    if config is not None:
        assert tmp is not None, "a config needs a folder to live in"
        path = tmp / "hostile.toml"
        path.write_text(config)
        argv += ["--config", str(path)]
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=ROOT,
        env=full,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=_nofile(nofile) if nofile else None,
    )
    lines: list[bytes] = []
    stdout = process.stdout
    assert stdout is not None
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                line = await stdout.readline()
                if not line:
                    raise RuntimeError(b"".join(lines).decode(errors="replace"))
                lines.append(line)
                if b'"listening"' in line:
                    listening = orjson.loads(line)
                    break
        url = listening["url"]
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        proc = ProxyProcess(process, port, url, listening["event_loop"], lines)

        async def pump() -> None:
            while line := await stdout.readline():
                lines.append(line)

        reader = asyncio.get_running_loop().create_task(pump())  # awaited below
        try:
            yield proc
        finally:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(TIMEOUT):
                await process.wait()
                await reader
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@dataclass
class Conn:
    """One attacking connection: when it opened, and when the proxy closed it (or None)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    opened: float
    closed: float | None = None
    answer: bytes = b""  # what the proxy wrote before closing


async def half_open(port: int, count: int, request: bytes = HALF_OPEN) -> list[Conn]:
    """`count` connections that each send `request` (no blank line) and stop."""
    conns = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        conns.append(Conn(reader, writer, time.monotonic()))
    return conns


async def big_headers(port: int, count: int, headers: int = 120, size: int = 8192) -> list[Conn]:
    """`count` connections that each send up to `headers` headers of `size` bytes, never the
    blank line; a connection the proxy cuts stops sending."""
    conns = await half_open(port, count)
    line = b"X-Filler-%d: " + b"a" * (size - 20) + b"\r\n"

    async def fill(conn: Conn) -> None:
        with contextlib.suppress(ConnectionError):
            for n in range(headers):
                conn.writer.write(line.replace(b"%d", str(n).encode()))
                await conn.writer.drain()

    await asyncio.gather(*(fill(conn) for conn in conns))
    return conns


async def closed_within(conns: list[Conn], patience: float) -> int:
    """Wait (at most `patience` s) for the proxy to close each connection; set `closed` and
    `answer`. Returns how many it closed."""

    async def watch(conn: Conn) -> None:
        try:
            async with asyncio.timeout(patience):
                while chunk := await conn.reader.read(65536):
                    conn.answer += chunk
        except TimeoutError:
            return
        except ConnectionError:  # a reset: closed with bytes of ours unread
            pass
        conn.closed = time.monotonic()

    await asyncio.gather(*(watch(conn) for conn in conns))
    for conn in conns:
        conn.writer.close()
    return sum(conn.closed is not None for conn in conns)


def fd_count(pid: int) -> int:
    """Descriptors the process has open now."""
    return len(os.listdir(f"/proc/{pid}/fd"))


async def spoken_turn(url: str, headers: Mapping[str, str]) -> float:
    """One server-VAD spoken turn (tone, silence) to `response.done`; returns its seconds."""
    started = time.monotonic()
    session = {
        "type": "realtime",
        "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 200}}},
    }
    tone, quiet = (base64.b64encode(pcm).decode() for pcm in (pcm16_tone(300), pcm16_silence(300)))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{url}?model=gpt-realtime", headers=dict(headers)) as ws,
    ):
        await ws.send_json({"type": "session.update", "session": session})
        for audio in (tone, quiet):
            await ws.send_json({"type": "input_audio_buffer.append", "audio": audio})
        async with asyncio.timeout(TIMEOUT):
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT and '"response.done"' in msg.data:
                    break
            else:
                raise RuntimeError("the session ended before response.done")
    return time.monotonic() - started


async def _sample_fds(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            peak[0] = max(peak[0], fd_count(pid))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.05):
                await stop.wait()


KEY = "sk-hostile-bench-0123456789"


async def _attack(name: str, loop: str) -> dict[str, Any]:
    env = {"PROXY_API_KEYS": KEY, "PROXY_UVLOOP": "1" if loop == "uvloop" else "0"}
    async with proxy_process(env=env) as proxy:
        await spoken_turn(proxy.url, {"Authorization": f"Bearer {KEY}"})  # warm
        pid, since = proxy.pid, len(proxy.lines)
        rss_before, fds_before = rss_kib([pid]), fd_count(pid)
        peak, stop = [fds_before], asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_sample_fds(pid, peak, stop))
            started = time.monotonic()
            if name == "half_open":
                conns = await half_open(proxy.port, 300)
            elif name == "big_headers":
                conns = await big_headers(proxy.port, 200)
            else:
                conns = await big_headers(proxy.port, 200, headers=3)
            attack_s = time.monotonic() - started
            turn_s = await spoken_turn(proxy.url, {"Authorization": f"Bearer {KEY}"})
            closed = await closed_within(conns, 15)
            stop.set()
        rss_peak = rss_kib([pid], "VmHWM")
        after = {"rss_kib": rss_kib([pid]), "fds": fd_count(pid)}
        latest = max((c.closed - c.opened for c in conns if c.closed is not None), default=0)
        return {
            "attack": name,
            "event_loop": proxy.event_loop,
            "connections": len(conns),
            "attack_s": round(attack_s, 2),
            "keyed_turn_s": round(turn_s, 3),
            "closed": closed,
            "latest_close_s": round(latest, 2),
            "log_lines": len(proxy.lines) - since,
            "rss_kib": {"before": rss_before, "peak": rss_peak, "after": after["rss_kib"]},
            "rss_growth_mib": round((rss_peak - rss_before) / 1024, 1),
            "fds": {"before": fds_before, "peak": peak[0], "after": after["fds"]},
        }


def _print(result: dict[str, Any]) -> None:
    rss, fds = result["rss_kib"], result["fds"]
    print(
        f"{result['attack']:<12} {result['event_loop']:<8} {result['connections']:>4} conns: "
        f"keyed turn {result['keyed_turn_s']:.2f} s, closed {result['closed']} "
        f"(last after {result['latest_close_s']:.1f} s), {result['log_lines']} log lines, "
        f"RSS {rss['before'] // 1024} -> peak {rss['peak'] // 1024} -> "
        f"{rss['after'] // 1024} MiB (+{result['rss_growth_mib']} MiB), "
        f"fds {fds['before']} -> peak {fds['peak']} -> {fds['after']}"
    )


async def _main(loops: list[str]) -> list[dict[str, Any]]:
    results = []
    for loop in loops:
        for attack in ("half_open", "big_headers", "full_headers"):
            result = await _attack(attack, loop)
            _print(result)
            results.append(result)
    return results


def main(argv: list[str] | None = None) -> None:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), action="append")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    results = asyncio.run(_main(args.loop or ["uvloop", "asyncio"]))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results}, indent=2))


if __name__ == "__main__":
    main()

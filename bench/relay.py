"""Relay benchmark: direct vs nginx vs this proxy vs LiteLLM, side by side, one command.

    python -m bench.relay                      # the full run (about 20 minutes)
    python -m bench.relay --smoke --json out.json   # a few seconds (CI)

For each number of sessions, each round runs the paths one after the other against the same
echo upstream (`bench.echo`, its own process), in the opposite order every other round (so a
machine that gets busier or quieter during a round favours no path):

- direct: client -> echo;
- nginx:  client -> nginx (plain WebSocket reverse proxy, 1 worker) -> echo;
- proxy:  client -> `python -m proxy` (INWORLD_REALTIME_URL = echo, dummy credentials) -> echo;
- litellm: client -> LiteLLM's proxy (its OpenAI realtime route, one worker, from its own
  virtualenv: `bench.procs`) -> echo. Skipped, like nginx, when not installed; in `--smoke`
  it runs the real-time mode only (it takes seconds to start).

`--sessions 20 100 500@10`: 500 sessions at 10 frames/s each instead of real time (50/s), for
session counts the load generator and the echo cannot drive in real time on a small machine.

Each middle process is started fresh for each run, warmed with one short session, and
measured from /proc: CPU (user + system) while the sessions stream, peak RSS (VmHWM) and RSS
per session ((peak - before the sessions) / sessions). Modes: real time (50 frames/s per
session), maximum throughput (`--window` frames in flight per session, no pacing) and idle
(`--idle` sessions opened and held, then each proves it is alive with one round trip).
A frame is one WebSocket message relayed one way: each round trip is two frames.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import procs
from bench.load import Sessions, round_trip_all, stream

__all__ = ["main", "run_bench"]

PATHS = ("direct", "nginx", "proxy", "litellm")
REALTIME_FPS = 50  # 20 ms frames
_URL_PATH = "/v1/realtime?model=gpt-realtime"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def _middle(path: str, tmp: Path, echo: procs.Proc, args: argparse.Namespace) -> Iterator[Any]:
    if path == "direct":
        yield None
    elif path == "nginx":
        with procs.start_nginx(tmp, echo.port) as proc:
            yield proc
    elif path == "litellm":
        with procs.start_litellm(tmp, echo.port, args.litellm_venv) as proc:
            yield proc
    elif path == "proxy":
        env = dict(kv.split("=", 1) for kv in args.proxy_env)
        with procs.start_proxy(
            tmp, echo.port, src=args.proxy_src, extra_env=env, python=args.proxy_python
        ) as proc:
            yield proc
    else:
        src, env = _variants(args)[path]
        # without a tree of its own, a variant runs as `proxy` does (e.g. --proxy-python)
        python = args.proxy_python if src is None else None
        src = src or args.proxy_src
        with procs.start_proxy(tmp, echo.port, src=src, extra_env=env, python=python) as proc:
            yield proc


def _variants(args: argparse.Namespace) -> dict[str, tuple[Path | None, dict[str, str]]]:
    """`--variant NAME[:DIR][:K=V,...]` -> {NAME: (source tree or None, environment)}."""
    out: dict[str, tuple[Path | None, dict[str, str]]] = {}
    for spec in args.variant:
        name, _, rest = spec.partition(":")
        src, _, envs = rest.partition(":")
        env = dict(kv.split("=", 1) for kv in envs.split(",") if kv)
        out[name] = (Path(src) if src else None, env)
    return out


def _load(spec: str) -> tuple[int, int]:
    """`N` or `N@FPS` -> (sessions, frames per second per session)."""
    sessions, _, fps = spec.partition("@")
    return int(sessions), int(fps or REALTIME_FPS)


async def _one_run(
    mode: str,
    path: str,
    load_spec: tuple[int, int],
    tmp: Path,
    echo: procs.Proc,
    args: argparse.Namespace,
) -> dict[str, Any]:
    sessions, fps = load_spec
    with _middle(path, tmp, echo, args) as mid:
        port = echo.port if mid is None else mid.port
        url = f"http://127.0.0.1:{port}{_URL_PATH}"
        headers = mid.headers if mid else None
        warm = Sessions(url, headers)  # first session: imports, buffers, caches
        await warm.open(1)
        await stream(warm.sockets, seconds=0.2, warmup=0, interval=None, window=2)
        await warm.close()
        pids = mid.pids() if mid else []
        base_rss = procs.rss_kib(pids)
        load = Sessions(url, headers)
        try:
            await load.open(sessions)
            result: dict[str, Any] = {"mode": mode, "path": path, "sessions": sessions}
            if mode == "realtime":
                result["fps"] = fps
            if mode == "idle":
                await asyncio.sleep(args.idle_hold)
                held = procs.rss_kib(pids)
                result |= {
                    "alive": await round_trip_all(load.sockets),
                    "rss_kib": held,
                    "baseline_rss_kib": base_rss,
                    "rss_per_session_kib": (held - base_rss) / sessions if mid else None,
                    "peak_rss_kib": procs.rss_kib(pids, "VmHWM") if mid else None,
                }
                return result
            cpu0, echo0 = procs.cpu_seconds(pids), procs.cpu_seconds(echo.pids())
            split0 = procs.cpu_split(pids)
            own0 = time.process_time()
            stats = await stream(
                load.sockets,
                seconds=args.seconds if mode == "realtime" else args.throughput_seconds,
                warmup=args.warmup,
                interval=1 / fps if mode == "realtime" else None,
                window=args.window,
            )
            cpu = procs.cpu_seconds(pids) - cpu0
            user, system = (b - a for a, b in zip(split0, procs.cpu_split(pids), strict=True))
            frames = 2 * stats.round_trips
            result |= {
                "round_trips": stats.round_trips,
                "sent": stats.sent,
                "bad": stats.bad,
                "seconds": stats.elapsed,
                "round_trips_per_s": stats.round_trips / stats.elapsed,
                "p50_ms": _pct(stats.rtts, 0.50) * 1000,
                "p99_ms": _pct(stats.rtts, 0.99) * 1000,
                "timed": len(stats.rtts),
                "middle_cpu_s": cpu if mid else None,
                "middle_cpu_pct": 100 * cpu / stats.elapsed if mid else None,
                "middle_user_s": user if mid else None,  # 10 ms ticks: a coarse split of
                "middle_system_s": system if mid else None,  # `middle_cpu_s`
                "cpu_ms_per_1000_frames": 1e6 * cpu / frames if mid and frames else None,
                "echo_cpu_s": procs.cpu_seconds(echo.pids()) - echo0,
                "client_cpu_s": time.process_time() - own0,
                "baseline_rss_kib": base_rss if mid else None,
                "peak_rss_kib": procs.rss_kib(pids, "VmHWM") if mid else None,
            }
            if mid:
                result["rss_per_session_kib"] = (result["peak_rss_kib"] - base_rss) / sessions
            return result
        finally:
            await load.close()


async def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Every run the arguments ask for; returns the machine, the runs and their medians."""
    installed = {"nginx": procs.nginx_binary(), "litellm": procs.litellm_binary(args.litellm_venv)}
    paths = [p for p in args.paths if installed.get(p, True)]
    paths += list(_variants(args))
    skipped = sorted(set(args.paths) - set(paths))
    plan: list[tuple[str, tuple[int, int]]] = [("realtime", _load(n)) for n in args.sessions]
    if args.throughput_sessions:
        plan.append(("throughput", (args.throughput_sessions, 0)))
    plan += [("idle", (n, 0)) for n in args.idle if n]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with procs.start_echo(tmp) as echo:
            for mode, load_spec in plan:
                rounds = 1 if mode == "idle" else args.rounds
                for rnd in range(rounds):
                    for path in paths if rnd % 2 == 0 else paths[::-1]:
                        if mode == "idle" and path == "direct":
                            continue
                        if path == "litellm" and mode != "realtime" and args.smoke:
                            continue
                        run = await _one_run(mode, path, load_spec, tmp, echo, args)
                        run["round"] = rnd
                        runs.append(run)
                        print(_line(run), file=sys.stderr, flush=True)
    return {
        "machine": procs.machine(),
        "skipped_paths": skipped,
        "runs": runs,
        "summary": summarize(runs),
    }


def _line(run: dict[str, Any]) -> str:
    keys = ("p50_ms", "p99_ms", "round_trips_per_s", "cpu_ms_per_1000_frames", "peak_rss_kib")
    extra = ", ".join(
        f"{k}={run[k]:.3g}" for k in (*keys, "rss_per_session_kib") if run.get(k) is not None
    )
    return f"{run['mode']:10} {run['path']:7} n={_sessions(run):<7} {extra}"


def _sessions(row: dict[str, Any]) -> str:
    """`N`, or `N@FPS` for sessions streaming at other than real-time pace."""
    fps = row.get("fps", REALTIME_FPS)
    return str(row["sessions"]) if fps == REALTIME_FPS else f"{row['sessions']}@{fps}"


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians over rounds per (mode, sessions, path), with deltas against direct and nginx."""
    out: list[dict[str, Any]] = []
    groups: dict[tuple[str, int, int], dict[str, list[dict[str, Any]]]] = {}
    for run in runs:
        group = (run["mode"], run["sessions"], run.get("fps", 0))
        groups.setdefault(group, {}).setdefault(run["path"], []).append(run)
    for (mode, sessions, fps), by_path in groups.items():
        for path, items in by_path.items():
            row: dict[str, Any] = {"mode": mode, "sessions": sessions, "path": path}
            if fps:
                row["fps"] = fps
            row["rounds"] = len(items)
            for key in items[0]:
                values = [r[key] for r in items if isinstance(r.get(key), int | float)]
                if values and key not in ("sessions", "round", "fps"):
                    row[key] = statistics.median(values)
            for ref in ("direct", "nginx"):
                if ref == path or ref not in by_path:
                    continue
                for key in ("p50_ms", "p99_ms"):
                    deltas = _paired(items, by_path[ref], key, lambda a, b: a - b)
                    if deltas:
                        row[f"{key}_vs_{ref}"] = statistics.median(deltas)
                if ref == "nginx":
                    ratios = _paired(
                        items, by_path[ref], "cpu_ms_per_1000_frames", lambda a, b: a / b
                    )
                    if ratios:
                        row["cpu_vs_nginx"] = statistics.median(ratios)
            out.append(row)
    return out


def _paired(
    items: list[dict[str, Any]], refs: list[dict[str, Any]], key: str, op: Any
) -> list[float]:
    by_round = {r["round"]: r for r in refs}
    out = []
    for item in items:
        ref = by_round.get(item["round"])
        if ref and item.get(key) is not None and ref.get(key):
            out.append(op(item[key], ref[key]))
    return out


def markdown(result: dict[str, Any]) -> str:
    """The summary as Markdown tables."""
    lines = ["Machine: " + ", ".join(f"{k} {v}" for k, v in result["machine"].items()), ""]
    rows = result["summary"]

    def fmt(value: Any, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines += [
        "| mode | sessions | path | p50 ms | p99 ms | p50 vs direct | p99 vs direct | "
        "p50 vs nginx | p99 vs nginx | round trips/s | CPU ms/1000 frames | CPU vs nginx | "
        "middle CPU % | peak RSS MiB | RSS/session KiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["mode"] == "idle":
            continue
        peak = r.get("peak_rss_kib")
        lines.append(
            f"| {r['mode']} | {_sessions(r)} | {r['path']} | {fmt(r.get('p50_ms'))} | "
            f"{fmt(r.get('p99_ms'))} | {fmt(r.get('p50_ms_vs_direct'))} | "
            f"{fmt(r.get('p99_ms_vs_direct'))} | {fmt(r.get('p50_ms_vs_nginx'))} | "
            f"{fmt(r.get('p99_ms_vs_nginx'))} | {fmt(r.get('round_trips_per_s'), 0)} | "
            f"{fmt(r.get('cpu_ms_per_1000_frames'))} | {fmt(r.get('cpu_vs_nginx'))} | "
            f"{fmt(r.get('middle_cpu_pct'), 1)} | {fmt(peak / 1024 if peak else None, 1)} | "
            f"{fmt(r.get('rss_per_session_kib'), 1)} |"
        )
    idle = [r for r in rows if r["mode"] == "idle"]
    if idle:
        lines += [
            "",
            "| idle sessions | path | alive | RSS before MiB | RSS held MiB | KiB per session |",
            "|---|---|---|---|---|---|",
        ]
        for r in idle:
            lines.append(
                f"| {r['sessions']} | {r['path']} | {int(r.get('alive', 0))} | "
                f"{fmt(r['baseline_rss_kib'] / 1024, 1)} | {fmt(r['rss_kib'] / 1024, 1)} | "
                f"{fmt(r.get('rss_per_session_kib'), 1)} |"
            )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--sessions",
        nargs="*",
        default=["20", "50", "100"],
        metavar="N[@FPS]",
        help="real-time runs: N sessions (at FPS frames/s each; default 50, real time)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="per real-time run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds not timed")
    parser.add_argument("--rounds", type=int, default=3, help="repeats; medians reported")
    parser.add_argument("--paths", nargs="*", choices=PATHS, default=list(PATHS))
    parser.add_argument("--throughput-sessions", type=int, default=20, help="0: skip")
    parser.add_argument("--throughput-seconds", type=float, default=10.0)
    parser.add_argument("--window", type=int, default=4, help="frames in flight (throughput)")
    parser.add_argument(
        "--idle", type=int, nargs="*", default=[1000], help="idle sessions held (0: skip)"
    )
    parser.add_argument("--idle-hold", type=float, default=3.0, help="seconds idle sessions wait")
    parser.add_argument("--proxy-src", type=Path, help="run the proxy from this source tree")
    parser.add_argument(
        "--proxy-python",
        type=Path,
        help="run the proxy as installed for this interpreter (a fresh `pip install .`)",
    )
    parser.add_argument(
        "--litellm-venv",
        type=Path,
        help="LiteLLM's own virtualenv (default: $LITELLM_VENV or /opt/litellm/venv)",
    )
    parser.add_argument(
        "--proxy-env", action="append", default=[], metavar="K=V", help="proxy environment"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME[:DIR][:K=V,...]",
        help="one more proxy path, e.g. before:/tmp/old-tree, or noloop::PROXY_UVLOOP=0 (no DIR:"
        " run as the proxy path runs, --proxy-python included)",
    )
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    parser.add_argument(
        "--smoke", action="store_true", help="a few seconds: 2 sessions, 1 round, 20 idle"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print the Markdown summary; optionally write JSON."""
    args = _parser().parse_args(argv)
    if args.smoke:
        args.sessions, args.seconds, args.warmup, args.rounds = ["2"], 1.0, 0.2, 1
        args.throughput_sessions, args.throughput_seconds = 2, 0.5
        args.idle, args.idle_hold = [20], 0.2
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run_bench(args))
    else:
        result = uvloop.run(run_bench(args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

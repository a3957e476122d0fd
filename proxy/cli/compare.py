"""`inworld-realtime-proxy compare`: one scripted conversation, run against two or more
targets, one table (docs/cli.md#compare).

A target is any OpenAI Realtime WebSocket URL: the proxy's own `/v1/realtime?model=...` (one
per route or variant to compare), OpenAI itself (`--key NAME=ENVVAR` names the variable that
holds its key; keys are read from the environment, never from the command line), or a
second proxy. Runs go round-robin over the targets (run 1 of each, then run 2, ...), so a
drift in the network or the machine hits all alike. `proxy.cli.compare_run` plays and
measures one session; this module parses the command, shows progress on stderr, and writes
the table (stdout), `--json` and `--html` (`proxy.cli.compare_report`). Targets are listed
fastest first (turn latency p50).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from proxy.cli.compare_report import html_report
from proxy.cli.compare_run import run_session
from proxy.cli.compare_script import Plan, barge_in_clip, builtin_turns, wav_turns
from proxy.cli.compare_stats import Samples, summarize

__all__ = ["add_parser", "run", "table"]


def add_parser(sub: Any) -> None:
    """Register `compare` on the CLI's subparsers."""
    cmp = sub.add_parser(
        "compare", help="run one scripted conversation against several targets, one table"
    )
    cmp.add_argument(
        "--target",
        action="append",
        required=True,
        metavar="NAME=URL",
        help="an OpenAI Realtime WebSocket URL to compare (repeat: two or more)",
    )
    cmp.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="NAME=ENVVAR",
        help="send target NAME the Bearer key held in environment variable ENVVAR",
    )
    cmp.add_argument(
        "--audio",
        nargs="+",
        action="extend",
        type=Path,
        metavar="FILE.wav",
        help="one spoken user turn per WAV file (any rate; default: built-in turns)",
    )
    cmp.add_argument("--turns", type=_positive, metavar="N", help="user turns per run")
    cmp.add_argument("--runs", type=_positive, default=1, metavar="N", help="runs per target")
    cmp.add_argument("--barge-in", action="store_true", help="speak again while each reply plays")
    cmp.add_argument(
        "--barge-in-after-ms",
        type=_positive,
        default=300,
        metavar="N",
        help="how long into a reply's audio to interrupt it (default 300)",
    )
    cmp.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS", help="longest turn (30)"
    )
    cmp.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    cmp.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained report")
    cmp.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


class _Usage(Exception):
    """A bad argument: the message says which."""


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run `compare`: 0 when every target answered at least one turn, 1 otherwise, 2 for a
    bad argument."""
    try:
        targets = _targets(args.target)
        headers = _keys(args.key, targets, env)
        turns = wav_turns(args.audio, args.turns) if args.audio else builtin_turns(args.turns or 4)
    except (_Usage, ValueError) as exc:
        print(f"inworld-realtime-proxy compare: error: {exc}", file=sys.stderr)
        return 2
    plan = Plan(
        turns=turns,
        barge_in=barge_in_clip() if args.barge_in else b"",
        barge_in_after_ms=args.barge_in_after_ms,
        timeout=args.timeout,
    )
    results = asyncio.run(_compare(targets, headers, plan, args.runs, quiet=args.quiet))
    report = summarize(results, targets, plan, args.runs)
    print(table(report))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    if args.html is not None:
        args.html.write_text(html_report(report), encoding="utf-8")
    return 0 if all(t["turns"] for t in report["targets"].values()) else 1


def _targets(items: list[str]) -> dict[str, str]:
    targets: dict[str, str] = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise _Usage(f"--target wants NAME=URL, got {item!r}")
        if name in targets:
            raise _Usage(f"--target {name} is given twice")
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise _Usage(f"--target {name}: the URL must start with ws:// or wss://")
        targets[name] = url
    return targets


def _keys(items: list[str], targets: Mapping[str, str], env: Mapping[str, str]) -> dict[str, Any]:
    headers: dict[str, dict[str, str]] = {name: {} for name in targets}
    for item in items:
        name, sep, variable = item.partition("=")
        if not sep or name not in targets:
            raise _Usage(f"--key wants NAME=ENVVAR for a --target NAME, got {item!r}")
        key = env.get(variable)
        if not key:
            raise _Usage(f"--key {name}: the environment variable {variable} is not set")
        headers[name]["Authorization"] = f"Bearer {key}"
    return headers


async def _compare(
    targets: Mapping[str, str],
    headers: Mapping[str, dict[str, str]],
    plan: Plan,
    runs: int,
    *,
    quiet: bool,
) -> dict[str, Samples]:
    results = {name: Samples() for name in targets}
    async with aiohttp.ClientSession() as http:
        for n in range(1, runs + 1):
            for name, url in targets.items():

                def progress(turn: str, ms: float | None, name: str = name, n: int = n) -> None:
                    if not quiet:
                        shown = "no audio" if ms is None else f"{ms:.0f} ms"
                        print(f"compare: {name} run {n}/{runs} {turn}: {shown}", file=sys.stderr)

                samples = await run_session(http, url, headers[name], plan, progress)
                if samples.errors and not quiet:
                    codes = ", ".join(f"{c} x{k}" for c, k in sorted(samples.error_codes.items()))
                    print(f"compare: {name} run {n}/{runs} errors: {codes}", file=sys.stderr)
                results[name].merge(samples)
    return results


# -- the report -----------------------------------------------------------------------------


def table(report: Mapping[str, Any]) -> str:
    """The terminal table (one row per target, fastest first) and a one-line verdict."""
    head = ("target", "turns", "turn p50", "turn p95", "text p50", "barge-in p50",
            "barge-in p95", "errors", "audio out", "tokens")  # fmt: skip
    rows = [head]
    for name, t in report["targets"].items():
        rows.append((
            name, str(t["turns"]), _ms(t["turn_latency_ms"]["p50"]),
            _ms(t["turn_latency_ms"]["p95"]), _ms(t["first_text_ms"]["p50"]),
            _ms(t["barge_in_reaction_ms"]["p50"]), _ms(t["barge_in_reaction_ms"]["p95"]),
            str(t["errors"]), f"{t['audio_seconds_out']:.1f} s", str(t["tokens"]),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                  enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    ranked = [n for n in report["ranking"] if report["targets"][n]["turns"]]
    if len(ranked) >= 2:
        first = report["targets"][ranked[0]]["turn_latency_ms"]["p50"]
        behind = ", ".join(
            f"{n} +{report['targets'][n]['turn_latency_ms']['p50'] - first:.0f} ms"
            for n in ranked[1:]
        )
        lines.append(f"\nfastest: {ranked[0]} (turn latency p50 {first:.0f} ms); {behind}")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"

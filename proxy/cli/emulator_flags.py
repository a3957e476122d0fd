"""The `emulator` command's latency-profile flags (docs/emulator.md#latency-profile).

`--first-audio-ms`, `--jitter-ms`, `--cancel-ms` and `--response-pace` override the same keys
of `[emulator]`, so two emulators started side by side can answer at different speeds (what
`compare` measures offline).
"""

from __future__ import annotations

import argparse
import dataclasses

from proxy.config import EmulatorConfig

__all__ = ["add_latency_flags", "with_latency_flags"]

_FLAGS = (
    ("first_audio_ms", "milliseconds from response.created to a response's first delta"),
    ("jitter_ms", "a uniform +- jitter on --first-audio-ms, per response"),
    ("cancel_ms", "milliseconds a barge-in or response.cancel takes to stop a response"),
)


def _milliseconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole milliseconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_latency_flags(parser: argparse.ArgumentParser) -> None:
    """Add the latency-profile flags to the `emulator` parser."""
    for key, text in _FLAGS:
        flag = "--" + key.replace("_", "-")
        parser.add_argument(flag, type=_milliseconds, metavar="N", help=f"{text} (emulator.{key})")
    parser.add_argument(
        "--response-pace",
        type=_seconds,
        metavar="SECONDS",
        help="seconds between a response's audio chunks (emulator.response_pace)",
    )


def with_latency_flags(emulator: EmulatorConfig, args: argparse.Namespace) -> EmulatorConfig:
    """`emulator` with the flags that were given applied."""
    given = {key: getattr(args, key) for key, _ in _FLAGS if getattr(args, key) is not None}
    if args.response_pace is not None:
        given["response_pace"] = args.response_pace
    return dataclasses.replace(emulator, **given)

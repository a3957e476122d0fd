"""Plain-text output shared by the CLI's commands: aligned tables, a closed pipe."""

from __future__ import annotations

import os
import sys

__all__ = ["stdout_closed", "table"]


def stdout_closed() -> int:
    """After a `BrokenPipeError` (the reader, e.g. `| head`, has gone): point standard output
    at /dev/null so the interpreter's final flush stays quiet; returns exit status 1."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns, two spaces apart, trailing spaces removed."""
    widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in (headers, *rows)]  # fmt: skip
    return "\n".join(lines)

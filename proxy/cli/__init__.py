"""Command-line entry points: `inworld-realtime-proxy` (`main`) and its subcommands.

- `main`: the parser, `serve` and `emulator`; `translate`: `translate FILE`.
"""

from proxy.cli.main import main

__all__ = ["main"]

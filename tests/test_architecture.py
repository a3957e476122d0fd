"""The sans-I/O rule, checked: core modules import neither asyncio nor aiohttp."""

import ast
from pathlib import Path

import pytest

PROXY = Path(__file__).resolve().parent.parent / "proxy"
CORE = [
    "sniff", "translate", "rewrite", "dialect", "correlate", "validate", "errors", "commands",
    "passthrough", "routing", "auth", "tokens", "observe", "audio_size", "event_types", "frames",
    "emulator/engine", "emulator/session", "emulator/responses", "emulator/catalog",
]  # fmt: skip
IO_MODULES = {"asyncio", "aiohttp"}


def imported_roots(path: Path) -> set[str]:
    """Top-level package names a module imports."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_no_io(module: str) -> None:
    """A core module stays pure: it can be tested without sockets or an event loop."""
    assert not imported_roots(PROXY / f"{module}.py") & IO_MODULES

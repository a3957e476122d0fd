"""The layering, enforced: each folder of `proxy/` imports only the layers below it, the pure
layers reach no I/O library even transitively, and the emulator stands alone.

The graph is built from the source with `ast` (every import statement, function-level and
`TYPE_CHECKING` ones included), so a wrong arrow fails here before anyone reviews it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

PROXY = Path(__file__).resolve().parents[2] / "proxy"

# layer -> the layers it may import (itself included). Entry points (`cli`, `__main__`) may
# import anything. Read top to bottom: a layer never imports one further down this table.
ALLOWED: dict[str, frozenset[str]] = {
    "config": frozenset({"config"}),
    "core": frozenset({"config", "core"}),
    "ws": frozenset({"ws"}),
    "upstream": frozenset({"config", "ws", "upstream"}),
    "metrics": frozenset({"config", "core", "metrics"}),
    "session": frozenset({"config", "core", "ws", "upstream", "metrics", "session"}),
    # WebRTC calls: the optional extra's shell (aiortc is imported only here; web imports it
    # lazily, inside the handlers, and answers 501 without it).
    "webrtc": frozenset({"config", "core", "ws", "upstream", "metrics", "session", "webrtc"}),
    "web": frozenset(
        {"config", "core", "ws", "upstream", "metrics", "session", "webrtc", "web", "root"}
    ),
    "probe": frozenset({"config"}),
    "emulator": frozenset({"emulator"}),
    "root": frozenset(),
}
# `proxy` itself (the root) holds only `__version__`: any layer may read it, it imports nothing.
IO_LIBRARIES = frozenset({"asyncio", "aiohttp", "structlog", "prometheus_client"})
PURE_LAYERS = ("config", "core")
STDLIB = sys.stdlib_module_names


def module_name(path: Path) -> str:
    parts = path.relative_to(PROXY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """`proxy.core.translate` -> `core`; `proxy` and `proxy.__main__` -> `root`/`entry`."""
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] in ("cli", "__main__"):
        return "entry"
    return parts[1]


def imports_of(path: Path, module: str) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def build_graph() -> dict[str, set[str]]:
    """Every proxy module -> the proxy modules and top-level libraries it imports."""
    modules = {module_name(p): p for p in PROXY.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for imported in imports_of(path, name):
            if imported.split(".")[0] == "proxy":
                while imported not in modules and "." in imported:  # `from pkg import name`
                    imported = imported.rpartition(".")[0]
                if imported != name:
                    deps.add(imported)
            else:
                deps.add(imported.split(".")[0])
        graph[name] = deps
    return graph


def wrong_arrows(graph: Mapping[str, set[str]]) -> list[str]:
    """Imports that go against `ALLOWED` (one line each)."""
    problems = []
    for module, deps in sorted(graph.items()):
        source = layer_of(module)
        if source == "entry":
            continue
        for dep in sorted(deps):
            if not dep.startswith("proxy"):
                continue
            target = layer_of(dep)
            if target != "root" and target not in ALLOWED.get(source, frozenset()):
                problems.append(f"{module} ({source}) imports {dep} ({target})")
    return problems


def reachable_libraries(graph: Mapping[str, set[str]], start: str) -> set[str]:
    """Third-party and standard-library roots `start` reaches through proxy modules."""
    seen, stack, libraries = {start}, [start], set()
    while stack:
        for dep in graph.get(stack.pop(), ()):
            if dep.startswith("proxy"):
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
            else:
                libraries.add(dep)
    return libraries


GRAPH = build_graph()


def test_root_imports_nothing() -> None:
    """`proxy/__init__.py` holds the version only, so every layer may import it safely."""
    assert not {d for d in GRAPH["proxy"] if d.startswith("proxy")}


def test_every_module_belongs_to_a_known_layer() -> None:
    """A new folder must be given its place in the table before it can be used."""
    layers = {layer_of(m) for m in GRAPH}
    assert layers <= set(ALLOWED) | {"entry"}, layers - set(ALLOWED)
    assert {"config", "core", "ws", "upstream", "metrics", "session", "web"} <= layers


def test_layers_only_import_downwards() -> None:
    """No module imports a layer above its own (or a sibling it has no business with)."""
    assert wrong_arrows(GRAPH) == []


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if layer_of(m) in PURE_LAYERS))
def test_pure_layers_reach_no_io_library(module: str) -> None:
    """config and core reach no asyncio, aiohttp, structlog or prometheus_client, even
    through another module."""
    assert not reachable_libraries(GRAPH, module) & IO_LIBRARIES


@pytest.mark.parametrize("module", ["proxy.emulator.engine", "proxy.emulator.session"])
def test_emulator_core_is_sans_io(module: str) -> None:
    """The emulator's protocol engine is pure too; only its server does I/O."""
    assert not reachable_libraries(GRAPH, module) & {"asyncio", "aiohttp"}


def test_prometheus_only_in_metrics_collectors() -> None:
    """Only the metrics layer's collector modules (and the app's /metrics route) touch
    prometheus_client; the observer the relay feeds stays plain Python."""
    users = {
        m for m, deps in GRAPH.items() if "prometheus_client" in deps and layer_of(m) != "entry"
    }
    allowed = {"proxy.metrics.collectors", "proxy.metrics.routes", "proxy.metrics.calls"}
    assert users <= allowed | {"proxy.web.app"}, users
    assert "prometheus_client" not in reachable_libraries(GRAPH, "proxy.metrics.observe")


def test_session_layer_has_no_aiohttp_web() -> None:
    """The two-socket code never sees an HTTP request: it gets links, not handlers."""
    for path in (PROXY / "session").rglob("*.py"):
        imported = imports_of(path, module_name(path))
        assert not {name for name in imported if name.startswith("aiohttp.web")}, path


def test_third_party_imports_are_declared() -> None:
    """Every library the package imports is the standard library, a declared dependency, or
    an optional extra guarded at import time (uvloop, aiortc)."""
    declared = {"aiohttp", "orjson", "structlog", "prometheus_client", "yarl", "multidict"}
    optional = {"uvloop", *WEBRTC_LIBRARIES}
    used = {d for deps in GRAPH.values() for d in deps if not d.startswith("proxy")}
    assert used - STDLIB - declared - optional == set()


WEBRTC_LIBRARIES = frozenset({"aiortc", "aioice", "av"})  # the `webrtc` extra


def test_webrtc_libraries_only_in_the_webrtc_layer() -> None:
    """aiortc, aioice and PyAV are imported in proxy/webrtc only, and the web layer imports
    proxy.webrtc inside functions only (without the extra the proxy starts and answers 501)."""
    users = {m for m, deps in GRAPH.items() if deps & WEBRTC_LIBRARIES}
    assert {layer_of(m) for m in users} == {"webrtc"}, users
    assert not GRAPH["proxy.webrtc"] - {"proxy.webrtc"}
    for path in (PROXY / "web").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:  # module-level statements only
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("proxy.webrtc"):
                raise AssertionError(f"{path.name} imports {node.module} at module level")
            if isinstance(node, ast.Import) and any(
                a.name.startswith("proxy.webrtc") for a in node.names
            ):
                raise AssertionError(f"{path.name} imports proxy.webrtc at module level")


def test_the_checker_catches_a_wrong_arrow() -> None:
    """The checker itself: a core module importing the relay, or a config module reaching
    aiohttp through another module, is reported."""
    graph = {
        "proxy.core.translate": {"proxy.session.relay"},
        "proxy.session.relay": {"aiohttp"},
        "proxy.config.loader": {"proxy.config.types"},
        "proxy.config.types": {"structlog"},
    }
    assert wrong_arrows(graph) == [
        "proxy.core.translate (core) imports proxy.session.relay (session)"
    ]
    assert "structlog" in reachable_libraries(graph, "proxy.config.loader")


TESTS = PROXY.parent / "tests"


def test_test_modules_never_import_each_other() -> None:
    """Shared test code lives in tests/support/; a test module imports no other test module
    (nor conftest), so each can be read, moved or deleted on its own."""
    offenders = []
    for path in TESTS.rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        for name in imports_of(path, "tests"):
            last = name.rsplit(".", 2)
            if name.startswith("tests.") and (
                any(part.startswith("test_") for part in last) or name.endswith("conftest")
            ):
                offenders.append(f"{path.relative_to(TESTS)} imports {name}")
    assert offenders == []


def test_tests_mirror_the_package_folders() -> None:
    """tests/ has one folder per proxy/ layer (plus system/ and support/), and no test module
    at its top level."""
    layers = {p.name for p in PROXY.iterdir() if (p / "__init__.py").exists()}
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    assert folders - {"system", "support"} <= layers, folders - layers
    assert layers - {"emulator"} <= folders, layers - folders
    assert not list(TESTS.glob("test_*.py"))


# Notes kept outside the repository; a maintainer cannot follow a citation of them.
OUTSIDE_NOTES = (
    "inworld-realtime.md",
    "openai-realtime.md",
    "inworld-platform.md",
    "openai-webrtc.md",
    "openai-live.md",
    "anchors.md",
    "style.md",
    "shared/reference",
    "reference notes",
    "reference §",
)


def outside_citations(root: Path) -> list[str]:
    """`path:line` of every line under proxy/, tests/, bench/ and docs/ citing an outside note
    (a `§` counts unless the line names an `RFC`). This module itself is skipped."""
    found = []
    for folder in ("proxy", "tests", "bench", "docs"):
        for path in sorted((root / folder).rglob("*")):
            skipped = {"node_modules", "__pycache__"} & set(path.parts)
            if skipped or not path.is_file() or path == Path(__file__).resolve():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # binary
            for number, line in enumerate(text.splitlines(), 1):
                if any(note in line for note in OUTSIDE_NOTES) or (
                    "§" in line and "RFC" not in line
                ):
                    found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_no_citation_of_notes_outside_the_repository() -> None:
    """Comments, docstrings and docs cite docs/protocol-notes.md or docs/emulator.md (or a
    public URL), never notes a maintainer does not have."""
    assert outside_citations(PROXY.parent) == []

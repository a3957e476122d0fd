"""Docs that cannot drift: the reference tables in docs/ are compared with the code.

- docs/configuration.md: every key and default of `proxy/config/defaults.toml`, both ways;
- docs/observability.md: every metric family (name, type, label names) of the live registry,
  both ways, and the documented value sets of the enumerable labels;
- the rewrite kinds (both ways) and the proxy's own error codes (each documented);
- docs/cli.md: every flag of every subcommand, both ways.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry

from proxy.cli.main import _parser
from proxy.core.error_events import LIMIT_ERRORS
from proxy.metrics.collectors import close_code_class, session_outcome
from proxy.web.app import create_app
from tests.support.stack import proxy_config

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CELL = re.compile(r"`([^`]+)`")


def table_rows(text: str) -> Iterator[list[str]]:
    """The cells of every Markdown table row (header and separator rows excluded)."""
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"\|\s*-", line):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            yield cells


def section(page: str, heading: str) -> str:
    """The text under a heading (any level) up to the next heading of the same or a higher
    level."""
    text = (DOCS / page).read_text()
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.M)
    assert match, f"{page} has no heading {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start() if end else None]


def merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict) and value:
            merge(into[key], value)
        else:
            assert key not in into or into[key] == value, f"{key} documented twice"
            into[key] = value


# --- configuration ----------------------------------------------------------------------------


def documented_config() -> dict[str, Any]:
    """The configuration reference's rows, read back as TOML (`key = default`)."""
    tree: dict[str, Any] = {}
    for cells in table_rows((DOCS / "configuration.md").read_text()):
        if len(cells) < 3 or not cells[0].startswith("`") or not cells[1].startswith("`"):
            continue
        key, default = cells[0].strip("`"), cells[1].strip("`")
        if not re.match(r'^[a-z_]+\.[\w."*/-]+$', key):
            continue
        merge(tree, tomllib.loads(f"{key} = {default}"))
    return tree


def test_configuration_reference_equals_the_defaults_file() -> None:
    """Every key of defaults.toml is documented with its default, and every documented key
    exists with that default (config/proxy.toml is the same file)."""
    defaults = tomllib.loads((ROOT / "proxy" / "config" / "defaults.toml").read_text())
    assert documented_config() == defaults
    assert (ROOT / "config" / "proxy.toml").read_text() == (
        ROOT / "proxy" / "config" / "defaults.toml"
    ).read_text()


# --- metrics ----------------------------------------------------------------------------------


def registry_families() -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (type, label names) of every family the proxy registers."""
    registry = CollectorRegistry()
    create_app(proxy_config("ws://127.0.0.1:9/x"), registry=registry, logger=structlog.get_logger())
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for collector in list(registry._collector_to_names):
        labels = getattr(collector, "_labelnames", None)
        for family in collector.describe():  # type: ignore[attr-defined]
            names = labels if labels is not None else tuple(getattr(family, "_labelnames", ()))
            name = family.name + ("_total" if family.type == "counter" else "")
            out[name] = (family.type, tuple(names))
    return out


def documented_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for cells in table_rows((DOCS / "observability.md").read_text()):
        if len(cells) >= 4 and cells[0].startswith("`inworld_proxy_"):
            labels = tuple(CELL.findall(cells[2]))
            out[cells[0].strip("`")] = (cells[1], labels)
    return out


def test_metrics_reference_equals_the_registry() -> None:
    """Every registered family is documented with its type and label names, and nothing
    documented is missing from the registry."""
    assert documented_metrics() == registry_families()


def documented_values(label: str) -> set[str]:
    for cells in table_rows((DOCS / "observability.md").read_text()):
        if cells and cells[0].strip("`").split(" ")[0] == label and len(cells) == 2:
            return set(re.findall(r"`([a-z_]+)`", cells[1]))
    raise AssertionError(f"no value row for label {label}")


def test_enumerable_label_values_are_documented_exactly() -> None:
    """`outcome`, `close_code_class` and `dialect` take exactly the documented values."""
    closes = {close_code_class(code) for code in (None, *range(0, 6000))}
    outcomes = {
        session_outcome(by, handshake_failed=failed, upstream_code=code)
        for by in ("client", "upstream", "proxy", "unknown")
        for failed in (False, True)
        for code in (None, 1000, 1001, 1005, 1006, 1011, 4000)
    }
    assert documented_values("close_code_class") == closes
    assert documented_values("outcome") == outcomes
    assert documented_values("dialect") == {"ga", "beta"}


# --- rewrite kinds and error codes ------------------------------------------------------------


def source_text() -> str:
    """The proxy's own source (the emulator, which speaks for Inworld, excluded)."""
    files = sorted((ROOT / "proxy").rglob("*.py"))
    return "".join(p.read_text() for p in files if "emulator" not in p.parts)


def test_rewrite_kinds_are_documented_both_ways() -> None:
    """The kinds `inworld_proxy_rewrites_total` can carry are the documented ones."""
    in_code = set(re.findall(r'_tally\("([a-z_]+)"\)', source_text()))
    rows = table_rows(section("observability.md", "Rewrite kinds"))
    documented = {cells[0].strip("`") for cells in rows if cells[0].startswith("`")}
    assert in_code
    assert documented == in_code


def test_the_proxys_own_error_codes_are_documented() -> None:
    """Every `error.code` the proxy itself produces appears in the docs."""
    codes = set(LIMIT_ERRORS) | set(re.findall(r'code="([a-z_]+)"', source_text()))
    docs = "".join(p.read_text() for p in DOCS.glob("*.md"))
    missing = {code for code in codes if f"`{code}`" not in docs}
    assert "session_limit" in codes
    assert missing == set()


# --- command line -----------------------------------------------------------------------------


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand by its full name, nested ones included (`voices list`)."""
    out: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    out[prefix + name] = sub
                    walk(sub, f"{prefix}{name} ")

    walk(_parser(), "")
    return out


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_cli_reference_lists_every_flag(name: str) -> None:
    """Each subcommand's section lists exactly the flags its parser accepts."""
    parser = subcommands()[name]
    flags = {o for a in parser._actions for o in a.option_strings}
    text = section("cli.md", f"`{name}`")
    documented = {
        flag
        for cells in table_rows(text)
        for cell in CELL.findall(cells[0])
        for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", cell)
    }
    assert documented == flags


def test_package_layout_lists_every_module() -> None:
    """docs/development.md's layout table names every module of every layer folder (the
    emulator's are on its own page), so a newcomer's map of the tree is complete."""
    rows = {
        cells[0].strip("`"): set(CELL.findall(cells[1]))
        for cells in table_rows(section("development.md", "Package layout"))
        if len(cells) >= 3 and cells[0].startswith("`proxy/")
    }
    missing = []
    for folder in sorted((ROOT / "proxy").iterdir()):
        if not (folder / "__init__.py").exists() or folder.name == "emulator":
            continue
        listed = rows.get(f"proxy/{folder.name}/", set())
        modules = {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
        missing += [f"proxy/{folder.name}/{m}" for m in sorted(modules - listed)]
    assert missing == []

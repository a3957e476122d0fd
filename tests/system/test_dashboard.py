"""The shipped Grafana dashboard and Prometheus scrape config match the proxy's metrics."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from asyncio.subprocess import PIPE
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from proxy.web.app import create_app
from tests.support.dashboard import dashboard_queries
from tests.support.stack import proxy_config

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config/grafana/dashboards/inworld-realtime-proxy.json"
SCRAPE_CONFIG = ROOT / "config/prometheus.yml"
METRIC = re.compile(r"\binworld_proxy_[a-z0-9_]+")


def exposed_names() -> set[str]:
    """Every series name the proxy can expose (families exist before any sample)."""
    registry = CollectorRegistry()
    create_app(proxy_config("ws://127.0.0.1:1/x"), registry=registry, logger=None)  # type: ignore[arg-type]
    names: set[str] = set()
    for family in registry.collect():
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_count", "_sum"),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_dashboard_uses_only_exposed_metrics() -> None:
    """Each dashboard query names metrics the proxy exposes; the key panels are there."""
    queries = dashboard_queries()
    exposed = exposed_names()
    used = {name for query in queries for name in METRIC.findall(query)}
    assert used
    assert used <= exposed, used - exposed
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    titles = " ".join(p["title"] for p in dashboard["panels"])
    for needle in ("Active sessions", "Turn latency p50 / p95 / p99", "Errors", "Tokens"):
        assert needle in titles
    text = " ".join(queries)
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(inworld_proxy_turn_" in text


async def test_scrape_config_is_valid_and_targets_the_proxy() -> None:
    """`promtool check config` accepts config/prometheus.yml, which scrapes proxy:8080."""
    assert "proxy:8080" in SCRAPE_CONFIG.read_text()
    tool = shutil.which("promtool")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is required in CI (Debian package 'prometheus')")
        pytest.skip("promtool not installed (Debian package 'prometheus')")
    proc = await asyncio.create_subprocess_exec(
        tool, "check", "config", str(SCRAPE_CONFIG), stdout=PIPE, stderr=PIPE
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode == 0, (out + err).decode()


def test_compare_row_splits_by_provider_and_role() -> None:
    """The "Compare" row shows turn latency and barge-in reaction by provider and role
    (primary and shadow side by side) and the shadow sessions' outcomes."""
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    panels = dashboard["panels"]
    [row] = [i for i, p in enumerate(panels) if p["type"] == "row" and p["title"] == "Compare"]
    after = panels[row + 1 :]
    queries = " ".join(t["expr"] for p in after for t in p.get("targets", []))
    for metric in ("route_turn_latency_seconds", "route_barge_in_reaction_seconds"):
        assert f"sum by (le, provider, role) (rate(inworld_proxy_{metric}_bucket" in queries
    assert "inworld_proxy_shadow_sessions_total" in queries

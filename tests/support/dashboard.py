"""The shipped Grafana dashboard's queries."""

from __future__ import annotations

from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config/grafana/dashboards/inworld-realtime-proxy.json"


def dashboard_queries() -> list[str]:
    """Every PromQL expression in the dashboard."""
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]

"""A real Prometheus (Debian package `prometheus`) scrapes the proxy during a session."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.dashboard import dashboard_queries
from tests.support.scripted import SERVER_VAD, session
from tests.support.stack import Stack

TIMEOUT = 30
MODEL = "openai/gpt-5.5"


def prometheus_binary() -> str:
    """Path of `prometheus`; skip without it, except in CI where it must be installed."""
    path = shutil.which("prometheus")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is required in CI (Debian package 'prometheus')")
        pytest.skip("prometheus not installed (Debian package 'prometheus')")
    return path


@pytest.fixture
async def prometheus(stack: Stack, tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[str]:
    """Prometheus scraping the stack's proxy every 200 ms; yields its base URL."""
    binary = prometheus_binary()
    target = f"{stack.proxy.host}:{stack.proxy.port}"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"
        "scrape_configs:\n  - job_name: proxy\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    base = f"http://127.0.0.1:{unused_tcp_port}"
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{unused_tcp_port}",
            stdout=log,
            stderr=log,
        )
        try:
            await wait_ready(base, process)
            yield base
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    async with asyncio.timeout(10):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def wait_ready(base: str, process: Any) -> None:
    """Wait until Prometheus answers /-/ready (fails if it exits or after TIMEOUT)."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(TIMEOUT):
        while True:
            assert process.returncode is None, "prometheus exited"
            try:
                async with http.get(f"{base}/-/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)


async def query(http: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    """Run an instant PromQL query through the HTTP API; return its vector."""
    async with http.get(f"{base}/api/v1/query", params={"query": promql}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def query_until(
    http: aiohttp.ClientSession, base: str, promql: str, *, want: float
) -> list[dict[str, Any]]:
    """Re-run `promql` until it yields one series equal to `want` (Prometheus scrapes every
    200 ms, so this waits for the next scrapes; fails after TIMEOUT)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            result = await query(http, base, promql)
            if len(result) == 1 and float(result[0]["value"][1]) == want:
                return result
            await asyncio.sleep(0.1)


async def test_prometheus_scrapes_turn_latency(stack: Stack, prometheus: str) -> None:
    """During a session, PromQL returns the turn-latency histogram with one observation."""
    url = stack.proxy.make_url("/v1/realtime?model=gpt-realtime")
    async with aiohttp.ClientSession() as http, session(url) as client:
        await client.send(type="session.update", session=SERVER_VAD)
        await client.until("session.updated")
        await client.spoken_turn()
        # the session is still open: Prometheus sees it live
        active = 'sum(inworld_proxy_sessions_active{transport="websocket"})'
        await query_until(http, prometheus, active, want=1)
        count = f'inworld_proxy_turn_latency_seconds_count{{model="{MODEL}"}}'
        await query_until(http, prometheus, count, want=1)
        buckets = await query(http, prometheus, "inworld_proxy_turn_latency_seconds_bucket")
        by_le = {b["metric"]["le"]: float(b["value"][1]) for b in buckets}
        assert by_le["+Inf"] == 1
        assert len(by_le) > 10
        assert {b["metric"]["job"] for b in buckets} == {"proxy"}
        p95 = await query(
            http, prometheus, "histogram_quantile(0.95, inworld_proxy_turn_latency_seconds_bucket)"
        )
        assert 0 < float(p95[0]["value"][1]) <= 10
        frames = 'inworld_proxy_messages_total{event_type="input_audio_buffer.append"}'
        await query_until(http, prometheus, frames, want=2)
        # every dashboard query is valid PromQL and the key ones return data
        for expr in dashboard_queries():
            promql = expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
            await query(http, prometheus, promql)

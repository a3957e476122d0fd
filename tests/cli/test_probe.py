"""proxy.probe: the container's health probe, against a live proxy on loopback."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from proxy.probe import main, probe_target
from proxy.web.app import create_app
from proxy.web.appkeys import LIFECYCLE
from tests.support.core import config
from tests.support.stack import StartProxy, proxy_config


async def probe(*args: str, env: dict[str, str]) -> int:
    """Run the (blocking) probe off the event loop that serves the proxy."""
    return await asyncio.to_thread(main, list(args), env)


async def test_healthz_and_readyz_of_a_live_proxy(
    start_proxy: StartProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0 for /healthz and /readyz of a running proxy found through PROXY_PORT."""
    server = await start_proxy(proxy_config("ws://127.0.0.1:9/api/v1/realtime/session"))
    env = {"PROXY_PORT": str(server.port)}
    assert await probe(env=env) == 0
    assert await probe("readyz", env=env) == 0
    out = capsys.readouterr().out
    assert "/healthz answered 200" in out
    assert "/readyz answered 200" in out


async def test_readyz_fails_while_draining(start_proxy: StartProxy) -> None:
    """A draining proxy is alive (healthz 0) but not ready (readyz 1)."""
    server = await start_proxy(proxy_config("ws://127.0.0.1:9/api/v1/realtime/session"))
    server.app[LIFECYCLE].draining = True
    env = {"PROXY_PORT": str(server.port)}
    assert await probe("healthz", env=env) == 0
    assert await probe("readyz", env=env) == 1


async def test_config_file_from_proxy_config(
    start_proxy: StartProxy, tmp_path: Path, unused_tcp_port_factory: Callable[[], int]
) -> None:
    """The probe reads the listener from the file PROXY_CONFIG names, as the proxy does."""
    server = await start_proxy(proxy_config("ws://127.0.0.1:9/api/v1/realtime/session"))
    path = tmp_path / "proxy.toml"
    path.write_text(f'[server]\nhost = "0.0.0.0"\nport = {server.port}\n')
    assert await probe(env={"PROXY_CONFIG": str(path)}) == 0
    path.write_text(f"[server]\nport = {unused_tcp_port_factory()}\n")
    assert await probe(env={"PROXY_CONFIG": str(path)}) == 1


async def test_nothing_listening_fails(
    unused_tcp_port_factory: Callable[[], int], capsys: pytest.CaptureFixture[str]
) -> None:
    """No listener: exit 1 with the address in the message."""
    port = unused_tcp_port_factory()
    assert await probe(env={"PROXY_PORT": str(port)}) == 1
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


def test_usage_and_config_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown probe is a usage error (2); a broken config fails the probe (1)."""
    assert main(["metrics"], {}) == 2
    assert "usage" in capsys.readouterr().err
    assert main([], {"PROXY_PORT": "eighty"}) == 1
    assert "PROXY_PORT" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "expected"),
    [("0.0.0.0", "127.0.0.1"), ("::", "::1"), ("127.0.0.1", "127.0.0.1"), ("10.1.2.3", "10.1.2.3")],
)
def test_wildcard_listeners_are_probed_on_loopback(host: str, expected: str) -> None:
    """A wildcard listen address is probed on loopback; a specific one as it is."""
    cfg = config({"PROXY_HOST": host, "PROXY_PORT": "8081"})
    assert probe_target(cfg) == (expected, 8081, False)


async def test_tls_listener_is_probed_over_tls(
    tmp_path: Path, self_signed: tuple[Path, Path]
) -> None:
    """With server.tls_cert set the probe speaks TLS (plain HTTP to that port fails)."""
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    cfg = proxy_config("ws://127.0.0.1:9/api/v1/realtime/session")
    runner = web.AppRunner(
        create_app(cfg, registry=CollectorRegistry(), logger=structlog.get_logger("test"))
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    port = runner.addresses[0][1]
    path = tmp_path / "proxy.toml"
    try:
        path.write_text(f'[server]\nport = {port}\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
        assert await probe(env={"PROXY_CONFIG": str(path)}) == 0
        path.write_text(f"[server]\nport = {port}\n")
        assert await probe(env={"PROXY_CONFIG": str(path)}) == 1
    finally:
        await runner.cleanup()

"""Running the servers: `serve` (the proxy, optionally in front of a private emulator) and
`emulator` (the emulator alone), on the event loop chosen by `server.uvloop`, until SIGTERM or
SIGINT (a second one hurries the drain). A listener that cannot open raises `ListenError`,
which the command line turns into one line and exit status 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import ssl
import sys
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from proxy.cli.local_emulator import emulator_settings, private_emulator
from proxy.config import Config
from proxy.emulator import EMULATOR_PATH, create_emulator_app
from proxy.web.app import create_app
from proxy.web.appkeys import ADMISSION, CONFIG
from proxy.web.auth import is_loopback_host
from proxy.web.drain import drain
from proxy.web.listener import proxy_site, serve_options
from proxy.web.logs import AccessLogger
from proxy.web.reload import install_reload
from proxy.ws.lane import NATIVE

__all__ = ["ListenError", "emulate", "run_event_loop", "serve"]


def run_event_loop(main: Coroutine[Any, Any, None], *, uvloop: bool) -> None:
    """Run `main` on uvloop when `uvloop` is set, on Linux, and the package is importable.

    Otherwise (or with `server.uvloop = false` / `PROXY_UVLOOP=0`) asyncio's own loop runs it.
    uvloop is a dependency on Linux (chosen by measurement: docs/performance.md), so a `pip
    install` and the container run the same loop; without it asyncio's runs.
    """
    if uvloop and sys.platform == "linux":
        try:
            import uvloop as _uvloop
        except ImportError:
            pass
        else:
            _uvloop.run(main)
            return
    asyncio.run(main)


def _loop_name() -> str:
    """`uvloop` or `asyncio`: the event loop running this coroutine."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def _signal_events() -> tuple[asyncio.Event, asyncio.Event]:
    """(stop, hurry): SIGINT/SIGTERM sets `stop`; a second one sets `hurry` too."""
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    return stop, hurry


def _tls_context(cfg: Config) -> ssl.SSLContext | None:
    if cfg.server.tls_cert is None or cfg.server.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cfg.server.tls_cert, cfg.server.tls_key)
    return context


class ListenError(Exception):
    """The listener could not be opened (port taken, address not local, no permission)."""


async def _start(
    app: web.Application,
    host: str,
    port: int,
    tls: ssl.SSLContext | None = None,
    *,
    how: str = "--port or PROXY_PORT",
) -> tuple[web.AppRunner, int]:
    """Start serving `app`; return its runner and the bound port (port 0 picks one).

    The proxy's application is served by `proxy.web.listener` (its own accept loop, the
    limits before authentication); the emulator's by a plain `web.TCPSite`.

    Raises:
        ListenError: the address cannot be bound; the message names `how` to choose another.
    """
    guarded = ADMISSION in app
    runner = web.AppRunner(
        app,
        access_log=logging.getLogger("aiohttp.access"),
        access_log_class=AccessLogger,
        **(serve_options(app[CONFIG].limits) if guarded else {}),
    )
    await runner.setup()
    try:
        site = proxy_site(runner, host, port, tls) if guarded else None
        await (site or web.TCPSite(runner, host, port, ssl_context=tls)).start()
    except OSError as exc:
        await runner.cleanup()
        why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ListenError(
            f"cannot listen on {host}:{port}: {why}; choose another with {how}"
        ) from None
    return runner, int(runner.addresses[0][1])


async def serve(
    cfg: Config,
    *,
    with_emulator: bool,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Serve the proxy for `cfg` (in front of a private emulator with `with_emulator`) until a
    signal; then drain. SIGHUP reloads `config_path` (with `env`) for new sessions.

    Raises:
        ListenError: the listener cannot be opened.
    """
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger("proxy")
    stop, hurry = _signal_events()  # before `listening`: an early SIGTERM still stops cleanly
    async with contextlib.AsyncExitStack() as stack:
        if with_emulator:
            settings = emulator_settings(cfg)
            cfg = await stack.enter_async_context(private_emulator(cfg, settings, user="demo"))
            log.info("emulator_started", upstream=cfg.upstream.url)
        app = create_app(cfg, registry=CollectorRegistry(), logger=log)
        tls = _tls_context(cfg)
        runner, port = await _start(app, cfg.server.host, cfg.server.port, tls)
        stack.push_async_callback(runner.cleanup)
        install_reload(app, config_path, os.environ if env is None else env)  # SIGHUP
        log.info(
            "listening",
            url=f"{'wss' if tls else 'ws'}://{cfg.server.host}:{port}/v1/realtime",
            upstream=cfg.upstream.url,
            emulator=with_emulator,
            event_loop=_loop_name(),
            hot_lane="native" if cfg.server.native_lane and NATIVE else "python",
        )
        upstream_url = urlsplit(cfg.upstream.url)
        if upstream_url.scheme == "ws" and not is_loopback_host(upstream_url.hostname):
            log.warning("plaintext_upstream", detail="credentials travel unencrypted (ws://)")
        await stop.wait()
        log.info("stopping")
        await drain(app, cfg.limits.shutdown_grace, hurry, log)


async def emulate(cfg: Config) -> None:
    """Serve the emulator alone (`emulator.host`/`port`) until a signal.

    Raises:
        ListenError: the listener cannot be opened.
    """
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger("emulator")
    stop, _ = _signal_events()
    runner, port = await _start(
        create_emulator_app(emulator_settings(cfg)),
        cfg.emulator.host,
        cfg.emulator.port,
        how="--port or emulator.port",
    )
    try:
        log.info(
            "emulator_listening",
            url=f"ws://{cfg.emulator.host}:{port}{EMULATOR_PATH}",
            checks_credentials=cfg.emulator.api_key is not None,
        )
        await stop.wait()
    finally:
        await runner.cleanup()

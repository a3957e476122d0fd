"""Command line: `inworld-realtime-proxy [serve|emulator] ...` (also `python -m proxy`).

`serve` (the default) runs the proxy; with `--emulator` the built-in Inworld emulator runs in
the same process on a private loopback port and is the upstream. `emulator` runs the emulator
alone, for users' CI. Flags and variables here are a stable interface: keep them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import os
import secrets
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from proxy import __version__
from proxy.app import create_app
from proxy.config import Config, ConfigError, is_loopback_host, load
from proxy.drain import drain
from proxy.emulator import EmulatorSettings, create_emulator_app
from proxy.log import configure_logging

__all__ = ["main"]

_COMMANDS = ("serve", "emulator")
_EMULATOR_PATH = "/api/v1/realtime/session"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inworld-realtime-proxy",
        description="OpenAI Realtime clients, unchanged, talking to Inworld Realtime.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the proxy (the default command)")
    serve.add_argument("--config", type=Path, help="TOML config file (or PROXY_CONFIG)")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8080)")
    serve.add_argument(
        "--emulator",
        action="store_true",
        help="use the built-in Inworld emulator as the upstream (offline demo)",
    )
    emu = sub.add_parser("emulator", help="run the built-in Inworld emulator alone")
    emu.add_argument("--config", type=Path, help="TOML config file (or PROXY_CONFIG)")
    emu.add_argument("--host", help="listen address (default 127.0.0.1)")
    emu.add_argument("--port", type=int, help="listen port (default 8090)")
    return parser


def _load(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    path = args.config or (Path(env["PROXY_CONFIG"]) if env.get("PROXY_CONFIG") else None)
    return load(path, env)


def emulator_settings(cfg: Config) -> EmulatorSettings:
    """The emulator's settings from the proxy configuration (credentials from the env)."""
    emu = cfg.emulator
    return EmulatorSettings(
        api_key=emu.api_key,
        api_secret=emu.api_secret,
        ping_interval=emu.ping_interval,
        response_pace=emu.response_pace,
        max_msg_size=cfg.server.max_message_bytes,
    )


def _signal_events() -> tuple[asyncio.Event, asyncio.Event]:
    """(stop, hurry): SIGINT/SIGTERM sets `stop`; a second one sets `hurry` too."""
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    return stop, hurry


async def _wait_for_signal() -> None:
    stop, _ = _signal_events()
    await stop.wait()


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, int(runner.addresses[0][1])  # the bound port (port 0 picks one)


async def _serve(cfg: Config, *, with_emulator: bool) -> None:
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger("proxy")
    runners: list[web.AppRunner] = []
    stop, hurry = _signal_events()
    try:
        if with_emulator:
            key, secret = "demo", secrets.token_urlsafe(18)
            settings = dataclasses.replace(emulator_settings(cfg), api_key=key, api_secret=secret)
            runner, port = await _start(create_emulator_app(settings), "127.0.0.1", 0)
            runners.append(runner)
            upstream = dataclasses.replace(
                cfg.upstream,
                url=f"ws://127.0.0.1:{port}{_EMULATOR_PATH}",
                credential=base64.b64encode(f"{key}:{secret}".encode()).decode(),
            )
            cfg = dataclasses.replace(cfg, upstream=upstream)
            log.info("emulator_started", upstream=upstream.url)
        app = create_app(cfg, registry=CollectorRegistry(), logger=log)
        runner, port = await _start(app, cfg.server.host, cfg.server.port)
        runners.append(runner)
        log.info(
            "listening",
            url=f"ws://{cfg.server.host}:{port}/v1/realtime",
            upstream=cfg.upstream.url,
            emulator=with_emulator,
        )
        upstream_url = urlsplit(cfg.upstream.url)
        if upstream_url.scheme == "ws" and not is_loopback_host(upstream_url.hostname):
            log.warning("plaintext_upstream", detail="credentials travel unencrypted (ws://)")
        await stop.wait()
        log.info("stopping")
        await drain(app, cfg.limits.shutdown_grace, hurry, log)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


async def _emulate(cfg: Config) -> None:
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger("emulator")
    runner, port = await _start(
        create_emulator_app(emulator_settings(cfg)), cfg.emulator.host, cfg.emulator.port
    )
    try:
        log.info(
            "emulator_listening",
            url=f"ws://{cfg.emulator.host}:{port}{_EMULATOR_PATH}",
            checks_credentials=cfg.emulator.api_key is not None,
        )
        await _wait_for_signal()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in (*_COMMANDS, "-h", "--help", "--version"):
        args_list.insert(0, "serve")
    args = _parser().parse_args(args_list)
    env = os.environ if env is None else env
    try:
        cfg = _load(args, env)
    except ConfigError as exc:
        print(f"inworld-realtime-proxy: error: {exc}", file=sys.stderr)
        return 2
    if args.command == "emulator":
        server = cfg.emulator
        cfg = dataclasses.replace(
            cfg,
            emulator=dataclasses.replace(
                server,
                host=args.host or server.host,
                port=server.port if args.port is None else args.port,
            ),
        )
    else:
        srv = cfg.server
        port = srv.port if args.port is None else args.port
        cfg = dataclasses.replace(
            cfg, server=dataclasses.replace(srv, host=args.host or srv.host, port=port)
        )
        if cfg.upstream.credential is None and not args.emulator:
            print(
                "inworld-realtime-proxy: error: INWORLD_API_KEY is not set (set it together "
                "with INWORLD_API_SECRET, or alone as the portal's base64 key), or pass "
                "--emulator to use the built-in offline emulator",
                file=sys.stderr,
            )
            return 2
    configure_logging(cfg.logging)
    if args.command == "emulator":
        asyncio.run(_emulate(cfg))
    else:
        asyncio.run(_serve(cfg, with_emulator=args.emulator))
    return 0

"""Command line: `inworld-realtime-proxy [serve|emulator] ...` (also `python -m proxy`).

`serve` (the default) runs the proxy; with `--emulator` the built-in Inworld emulator runs in
the same process on a private loopback port and is the upstream. `emulator` runs the emulator
alone, for users' CI. `translate FILE` prints the Inworld `session.update` the proxy would send
for an OpenAI one (`proxy.cli.translate`). `check` asks Inworld whether it accepts the
configuration (`proxy.cli.check`); `voices` drives Inworld's voices API (`proxy.cli.voices`);
`compare` plays one scripted conversation against several realtime endpoints
(`proxy.cli.compare`).
SIGHUP makes `serve` reload its configuration for new sessions (`proxy.web.reload`). Flags
and variables here are a stable interface: keep them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import errno
import logging
import os
import secrets
import signal
import ssl
import sys
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from proxy import __version__
from proxy.cli import check, compare, voices
from proxy.cli.emulator_flags import add_latency_flags, with_latency_flags
from proxy.cli.translate import translate_update
from proxy.config import Config, ConfigError, load
from proxy.emulator import EmulatorSettings, create_emulator_app
from proxy.web.app import create_app
from proxy.web.appkeys import ADMISSION, CONFIG
from proxy.web.auth import is_loopback_host
from proxy.web.drain import drain
from proxy.web.listener import proxy_site, serve_options
from proxy.web.logs import AccessLogger, configure_logging
from proxy.web.reload import install_reload

__all__ = ["main"]

_COMMANDS = ("serve", "emulator", "translate", "check", "voices", "compare")
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
    serve.add_argument("--tls-cert", help="PEM certificate chain: serve wss:// (with --tls-key)")
    serve.add_argument("--tls-key", help="PEM private key for --tls-cert")
    serve.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="allow a non-loopback --host without client keys (PROXY_API_KEYS)",
    )
    emu = sub.add_parser("emulator", help="run the built-in Inworld emulator alone")
    emu.add_argument("--config", type=Path, help="TOML config file (or PROXY_CONFIG)")
    emu.add_argument("--host", help="listen address (default 127.0.0.1)")
    emu.add_argument("--port", type=int, help="listen port (default 8090)")
    add_latency_flags(emu)  # proxy/cli/emulator_flags.py
    tr = sub.add_parser(
        "translate", help="print the Inworld session.update for an OpenAI session.update"
    )
    tr.add_argument("file", help="JSON file: a session.update event or a session ('-': stdin)")
    tr.add_argument("--config", type=Path, help="TOML config file (or PROXY_CONFIG)")
    dialect = tr.add_mutually_exclusive_group()
    dialect.add_argument(
        "--beta",
        action="store_const",
        const="beta",
        dest="dialect",
        help="the client speaks the beta dialect (OpenAI-Beta: realtime=v1)",
    )
    dialect.add_argument(
        "--ga",
        action="store_const",
        const="ga",
        dest="dialect",
        help="the client speaks the GA dialect (default: guessed from the event's shape)",
    )
    tr.add_argument("--model", help="the ?model= the client connects with")
    tr.add_argument("--key", default="", help="the caller's sticky key, for routed models")
    tr.add_argument(
        "--initial",
        action="store_true",
        help="also print the proxy's own initial session.update (output is a JSON list)",
    )
    check.add_parser(sub)  # proxy/cli/check.py
    voices.add_parser(sub)  # proxy/cli/voices.py
    compare.add_parser(sub)  # proxy/cli/compare.py
    return parser


def _translate(args: argparse.Namespace, cfg: Config) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
    except OSError as exc:
        print(f"inworld-realtime-proxy: error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    result = translate_update(
        text, cfg, dialect=args.dialect, model=args.model, key=args.key, initial=args.initial
    )
    for note in result.notes:
        print(f"# {note}", file=sys.stderr)
    if result.output:
        print(result.output, file=sys.stdout if result.status == 0 else sys.stderr)
    return result.status


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
        first_audio_ms=emu.first_audio_ms,
        jitter_ms=emu.jitter_ms,
        cancel_ms=emu.cancel_ms,
        max_msg_size=cfg.server.max_message_bytes,
    )


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


async def _serve(
    cfg: Config,
    *,
    with_emulator: bool,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger("proxy")
    stop, hurry = _signal_events()  # before `listening`: an early SIGTERM still stops cleanly
    runners: list[web.AppRunner] = []
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
            router = dataclasses.replace(  # the emulator serves the Router endpoints too
                cfg.router,
                url=f"http://127.0.0.1:{port}/v1",
                models_url=f"http://127.0.0.1:{port}/llm/v1alpha/models",
            )
            cfg = dataclasses.replace(cfg, upstream=upstream, router=router)
            log.info("emulator_started", upstream=upstream.url)
        app = create_app(cfg, registry=CollectorRegistry(), logger=log)
        tls = _tls_context(cfg)
        runner, port = await _start(app, cfg.server.host, cfg.server.port, tls)
        runners.append(runner)
        install_reload(app, config_path, os.environ if env is None else env)  # SIGHUP
        log.info(
            "listening",
            url=f"{'wss' if tls else 'ws'}://{cfg.server.host}:{port}/v1/realtime",
            upstream=cfg.upstream.url,
            emulator=with_emulator,
            event_loop=_loop_name(),
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
            url=f"ws://{cfg.emulator.host}:{port}{_EMULATOR_PATH}",
            checks_credentials=cfg.emulator.api_key is not None,
        )
        await stop.wait()
    finally:
        await runner.cleanup()


def _serve_overrides(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply `serve` flags to the configuration and check the listener is safe to open.

    Raises:
        ConfigError: TLS flags half given, or a non-loopback listener without client keys
            and without `--allow-unauthenticated`.
    """
    srv = cfg.server
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key must be given together")
    srv = dataclasses.replace(
        srv,
        host=args.host or srv.host,
        port=srv.port if args.port is None else args.port,
        tls_cert=args.tls_cert or srv.tls_cert,
        tls_key=args.tls_key or srv.tls_key,
    )
    clients = cfg.clients
    if args.allow_unauthenticated:
        clients = dataclasses.replace(clients, allow_unauthenticated=True)
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"{flag} is not a readable file: {path}")
    exposed = not is_loopback_host(srv.host) and not clients.api_keys
    if exposed and not clients.allow_unauthenticated:
        raise ConfigError(
            f"refusing to listen on {srv.host} without client keys: set PROXY_API_KEYS, "
            "or pass --allow-unauthenticated (PROXY_ALLOW_UNAUTHENTICATED=1) if a gateway "
            "in front of the proxy authenticates clients"
        )
    return dataclasses.replace(cfg, server=srv, clients=clients)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in (*_COMMANDS, "-h", "--help", "--version"):
        args_list.insert(0, "serve")
    args = _parser().parse_args(args_list)
    env = os.environ if env is None else env
    if args.command == "compare":  # a client of realtime endpoints: no configuration
        return compare.run(args, env)
    try:
        cfg = _load(args, env)
    except ConfigError as exc:
        print(f"inworld-realtime-proxy: error: {exc}", file=sys.stderr)
        return 2
    if args.command == "translate":
        return _translate(args, cfg)
    if args.command == "check":
        return check.run(args, cfg)
    if args.command == "voices":
        return voices.run(args, cfg)
    if args.command == "emulator":
        server = cfg.emulator
        cfg = dataclasses.replace(
            cfg,
            emulator=dataclasses.replace(
                with_latency_flags(server, args),
                host=args.host or server.host,
                port=server.port if args.port is None else args.port,
            ),
        )
    else:
        try:
            cfg = _serve_overrides(cfg, args)
        except ConfigError as exc:
            print(f"inworld-realtime-proxy: error: {exc}", file=sys.stderr)
            return 2
        if cfg.upstream.credential is None and not args.emulator:
            print(
                "inworld-realtime-proxy: error: INWORLD_API_KEY is not set (set it together "
                "with INWORLD_API_SECRET, or alone as the portal's base64 key), or pass "
                "--emulator to use the built-in offline emulator",
                file=sys.stderr,
            )
            return 2
    configure_logging(
        cfg.logging,
        secrets=(
            cfg.upstream.credential,
            cfg.emulator.api_key,
            cfg.emulator.api_secret,
            *cfg.clients.api_keys,
            cfg.openai.api_key,
            cfg.tokens.signing_secret.decode("utf-8", "replace")
            if cfg.tokens.signing_secret
            else None,
        ),
    )
    try:
        if args.command == "emulator":
            run_event_loop(_emulate(cfg), uvloop=cfg.server.uvloop)
        else:
            path = args.config or (Path(env["PROXY_CONFIG"]) if env.get("PROXY_CONFIG") else None)
            run_event_loop(
                _serve(cfg, with_emulator=args.emulator, config_path=path, env=env),
                uvloop=cfg.server.uvloop,
            )
    except ListenError as exc:
        print(f"inworld-realtime-proxy: error: {exc}", file=sys.stderr)
        return 2
    return 0

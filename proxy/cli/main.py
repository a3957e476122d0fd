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
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from proxy import __version__
from proxy.cli import check, compare, voices
from proxy.cli.emulator_flags import add_latency_flags, with_latency_flags
from proxy.cli.serve import ListenError, emulate, run_event_loop, serve
from proxy.cli.translate import translate_update
from proxy.config import Config, ConfigError, load
from proxy.web.auth import is_loopback_host
from proxy.web.logs import configure_logging

__all__ = ["main"]

_COMMANDS = ("serve", "emulator", "translate", "check", "voices", "compare")


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
            run_event_loop(emulate(cfg), uvloop=cfg.server.uvloop)
        else:
            path = args.config or (Path(env["PROXY_CONFIG"]) if env.get("PROXY_CONFIG") else None)
            run_event_loop(
                serve(cfg, with_emulator=args.emulator, config_path=path, env=env),
                uvloop=cfg.server.uvloop,
            )
    except ListenError as exc:
        print(f"inworld-realtime-proxy: error: {exc}", file=sys.stderr)
        return 2
    return 0

"""Local health probe for containers: `python -m proxy.probe [healthz|readyz]`.

The container image's `HEALTHCHECK` and Kubernetes exec probes run this inside the proxy's own
container (slim images have no curl). It loads the same configuration the proxy loaded (config
file from `PROXY_CONFIG`, environment overrides such as `PROXY_PORT`), asks the listener's
`/healthz` (default) or `/readyz` over loopback, and exits 0 on HTTP 200, 1 otherwise, printing
one line. A wildcard listen address (`0.0.0.0`, `::`) is probed on loopback; a TLS listener is
probed over TLS without certificate verification (the probe only asks "is it up?", locally).
Standard library only, so a probe costs one short Python start.
"""

from __future__ import annotations

import http.client
import os
import ssl
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from proxy.config import Config, ConfigError, load

__all__ = ["PATHS", "main", "probe_target"]

PATHS = {"healthz": "/healthz", "readyz": "/readyz"}
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1", "[::]": "::1"}


def probe_target(cfg: Config) -> tuple[str, int, bool]:
    """(host, port, tls) the probe connects to for the configured listener."""
    host = cfg.server.host
    return _WILDCARDS.get(host, host.strip("[]")), cfg.server.port, cfg.server.tls_cert is not None


def _ask(host: str, port: int, tls: bool, path: str, timeout: float) -> int:
    conn: http.client.HTTPConnection
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Probe the configured listener; return 0 when it answers 200."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    which = args[0] if args else "healthz"
    if which not in PATHS or len(args) > 1:
        print(f"usage: python -m proxy.probe [{'|'.join(PATHS)}]", file=sys.stderr)
        return 2
    try:
        cfg = load(Path(env["PROXY_CONFIG"]) if env.get("PROXY_CONFIG") else None, env)
    except ConfigError as exc:
        print(f"probe: configuration error: {exc}", file=sys.stderr)
        return 1
    host, port, tls = probe_target(cfg)
    try:
        status = _ask(host, port, tls, PATHS[which], timeout=3.0)
    except OSError as exc:
        print(f"probe: {PATHS[which]} unreachable on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    print(f"probe: {PATHS[which]} answered {status}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    raise SystemExit(main())

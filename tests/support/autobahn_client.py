"""The proxy's own WebSocket client side under Autobahn's `wstest -m fuzzingserver`.

Drives each fuzzingserver case with the upstream stack exactly as a pass-through session uses
it: `proxy.ws.dial.open_upstream` for the handshake, then a client-side `proxy.ws.link.Link`
taken over with `take_over` (what `proxy.upstream.openai.connect_openai` does). The link echoes
every message it receives (TEXT with `send_text`, BINARY with `send_binary`) and, when the peer
closes or breaks the protocol, closes the way `proxy.session.relay.Relay` closes an upstream:

- the peer sent a Close (or vanished): answer 1000 (the relay never echoes the upstream's code
  back to it: the client gets it);
- the link failed the connection (1002, 1007, 1009, ...): close with that code and reason.

The link checks UTF-8 itself here (`attach`'s default); the relay checks single frames in its
own code so that it can skip audio (`proxy.session.relay`), with the same `proxy.ws.utf8`.

usage: python -m tests.support.autobahn_client --url ws://127.0.0.1:PORT [--agent NAME]
       [--cases 1,2,3] [--case-timeout 60]
Runs on uvloop when it is installed (as `serve` does); AUTOBAHN_UVLOOP=0: plain asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from proxy.ws.dial import open_upstream
from proxy.ws.link import Link, take_over

__all__ = ["main", "run_link"]

CLOSE_TIMEOUT = 5.0  # limits.close_timeout's default: what the relay gives a closing peer
MAX_SIZE = 16 << 20  # server.max_message_bytes' default


async def run_link(url: str, *, echo: bool) -> tuple[list[bytes], tuple[int, str, bool]]:
    """Open `url`, echo (or just collect) messages until the peer ends; close like the relay.

    Returns the TEXT messages received and (code, reason, broken) as the link reported its end.
    """
    opened = await open_upstream(url, {}, connect_timeout=10.0)
    link = Link(client_side=True, max_size=MAX_SIZE, heartbeat=None)
    take_over(opened.transport, link, opened.leftover)
    ended: asyncio.Future[tuple[int, str, bool]] = asyncio.get_running_loop().create_future()
    texts: list[bytes] = []

    def on_text(payload: bytes, _raw: bytes | None) -> None:
        texts.append(payload)
        if echo:
            link.send_text(payload)

    def on_binary(payload: bytes) -> None:
        if echo:
            link.send_binary(payload)

    def on_closed(code: int, reason: str, broken: bool) -> None:
        if not ended.done():
            ended.set_result((code, reason, broken))

    link.attach(on_text, on_binary, on_closed)
    try:
        code, reason, broken = await ended
        await link.close(code if broken else 1000, reason if broken else "", CLOSE_TIMEOUT)
    except BaseException:
        link.abort()
        raise
    finally:
        link.release()
    return texts, (code, reason, broken)


async def main(argv: list[str] | None = None) -> int:
    """Run the fuzzingserver's cases one after the other, then have it write its reports."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--agent", default="proxy-client")
    parser.add_argument("--cases", default="", help="comma-separated case numbers (default all)")
    parser.add_argument("--case-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    texts, _ = await run_link(f"{base}/getCaseCount", echo=False)
    count = int(texts[0])
    numbers = [int(n) for n in args.cases.split(",") if n] or list(range(1, count + 1))
    print(f"fuzzingserver has {count} cases; running {len(numbers)}", flush=True)
    started = time.monotonic()
    for n in numbers:
        began = time.monotonic()
        url = f"{base}/runCase?case={n}&agent={args.agent}"
        try:
            async with asyncio.timeout(args.case_timeout):
                _, (code, reason, broken) = await run_link(url, echo=True)
            outcome = f"ended {code} {'failed' if broken else 'closed'} {reason[:60]!r}"
        except TimeoutError:
            outcome = f"harness timeout after {args.case_timeout:g} s"
        except Exception as exc:  # a refused handshake etc.: note it, go on with the next case
            outcome = f"harness error {type(exc).__name__}: {exc}"
        elapsed = (time.monotonic() - began) * 1000
        print(f"case {n:3d}: {outcome} ({elapsed:.0f} ms)", flush=True)
    print(f"all cases: {time.monotonic() - started:.1f} s", flush=True)
    await run_link(f"{base}/updateReports?agent={args.agent}", echo=False)
    return 0


if __name__ == "__main__":
    if os.environ.get("AUTOBAHN_UVLOOP", "1") != "0":
        try:
            import uvloop
        except ImportError:  # pragma: no cover - the `fast` extra is not installed
            pass
        else:
            sys.exit(uvloop.run(main()))
    sys.exit(asyncio.run(main()))

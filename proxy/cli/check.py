"""`inworld-realtime-proxy check`: does Inworld accept this configuration?

With the configuration and credentials `serve` would use, it opens one Inworld realtime session
the way the proxy does (`proxy.upstream.inworld.connect`), sends the proxy's own first
`session.update` (`Translator.start()`), then one small `session.update` per configured id:
every distinct LLM (`models.fallback`, `[models.map]`, inworld route variants and fallbacks),
STT model (`transcription.fallback`, `[transcription.map]`), TTS model (`tts.model`), voice
(`voices.default` mapped, `[voices.map]`) and turn-detection object (`[turn_detection]`, routes).
Inworld's updates are all-or-nothing, so each answer concerns exactly one id: `session.updated`
that shows it is `ok`; an `error` is printed verbatim with the `param` it names; an update
that Inworld answers but does not apply is reported too. Last, the Router's model catalogue
(`router.models_url`) when the REST passthrough is on. Nothing here spends tokens: no response
is ever requested.

Output: one line per item on standard output; exit 0 only when every item is accepted, 1
otherwise (also when Inworld cannot be reached, refuses the credentials or does not answer:
one line says which), 2 for a configuration error. `--emulator` checks against an in-process
emulator, as `serve --emulator` runs one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from proxy.cli.check_items import Item, applied, config_items, describe
from proxy.cli.local_emulator import private_emulator
from proxy.cli.output import stdout_closed
from proxy.cli.voices_api import error_message
from proxy.config import Config
from proxy.core.commands import ToUpstream
from proxy.core.translate import Translator
from proxy.emulator import EmulatorSettings
from proxy.upstream.inworld import UpstreamRefused, connect, new_session_key
from proxy.ws.frames import CLOSE, TEXT
from proxy.ws.link import Link

__all__ = ["add_parser", "run", "run_checks"]

Emit = Callable[[str], None]
_PREFIX = "inworld-realtime-proxy: error:"


def add_parser(sub: Any) -> None:
    """Register `check` on the main parser's subcommands."""
    check = sub.add_parser(
        "check", help="check that Inworld accepts the credentials, models and voices configured"
    )
    check.add_argument("--config", type=Path, help="TOML config file (or PROXY_CONFIG)")
    check.add_argument(
        "--emulator", action="store_true", help="check against the built-in emulator (offline)"
    )


def run(args: argparse.Namespace, cfg: Config) -> int:
    """Run `check`; return the exit status."""
    if cfg.upstream.credential is None and not args.emulator:
        print(
            f"{_PREFIX} INWORLD_API_KEY is not set (set it together with INWORLD_API_SECRET, "
            "or alone as the portal's base64 key), or pass --emulator",
            file=sys.stderr,
        )
        return 2

    def emit(line: str) -> None:
        print(line, flush=True)

    main = _with_emulator(cfg, emit) if args.emulator else run_checks(cfg, emit)
    try:
        return 0 if asyncio.run(main) else 1
    except BrokenPipeError:
        return stdout_closed()


async def _with_emulator(cfg: Config, emit: Emit) -> bool:
    """Run the checks against an emulator on a private loopback port with fresh credentials."""
    settings = EmulatorSettings(api_key=None, api_secret=None, ping_interval=0)
    async with private_emulator(cfg, settings, user="check") as local:
        return await run_checks(local, emit)


async def run_checks(cfg: Config, emit: Emit) -> bool:
    """Check everything (see the module docstring), one `emit(line)` per item; True if all
    were accepted."""
    ok = await _realtime(cfg, emit)
    return await _router(cfg, emit) and ok


async def _realtime(cfg: Config, emit: Emit) -> bool:
    url = cfg.upstream.url
    try:
        link = await connect(
            cfg.upstream, new_session_key(), max_msg_size=cfg.server.max_message_bytes
        )
    except UpstreamRefused as exc:
        emit(_refusal(exc, url, cfg.upstream.connect_timeout))
        return False
    try:
        return await _session_checks(link, cfg, emit)
    finally:
        await link.close(1000, "check done", cfg.limits.close_timeout)


async def _session_checks(link: Link, cfg: Config, emit: Emit) -> bool:
    """The checks inside the open session: its start, the first update, then each item."""
    wait = cfg.limits.session_start_timeout or 15.0
    first = await _next_answer(link, wait, ("session.created",))
    if first is None or first[0] != "session.created":
        verdict = "not checked" if first is None else "refused"
        emit(f"credentials: {verdict}: {_answer_text(first, wait).removeprefix('refused: ')}")
        return False
    emit(f"credentials: ok ({cfg.upstream.url})")
    start = next(c.text for c in Translator(cfg.rules).start() if isinstance(c, ToUpstream))
    answer = await _ask(link, start.encode() if isinstance(start, str) else start, wait)
    if answer is None or answer[0] == "closed":
        emit(f"session.update: {_answer_text(answer, wait)}")
        return False
    ok = answer[0] == "session.updated"
    emit(f"session.update: {'ok' if ok else _error_text(answer[1])} (the proxy's first update)")
    for item in config_items(cfg):
        update = {"type": "session.update", "session": item.patch()}
        answer = await _ask(link, orjson.dumps(update), wait)
        if answer is None or answer[0] == "closed":
            emit(f"{describe(item)}: {_answer_text(answer, wait)}")
            return False
        verdict = _verdict(item, answer)
        emit(f"{describe(item)}: {verdict}")
        ok = ok and verdict == "ok"
    return ok


async def _ask(link: Link, update: bytes, wait: float) -> tuple[str, Any] | None:
    """Send one `session.update` and wait for its answer (see `_next_answer`)."""
    link.send_text(update)
    return await _next_answer(link, wait)


def _refusal(exc: UpstreamRefused, url: str, timeout: float) -> str:
    if exc.status in (401, 403):
        return (
            f"credentials: refused: HTTP {exc.status} from {url}; check INWORLD_API_KEY and "
            "INWORLD_API_SECRET"
        )
    if exc.status is not None:
        return f"credentials: not checked: Inworld answered HTTP {exc.status} at {url}"
    if exc.detail.startswith("no handshake within"):
        return (
            f"credentials: not checked: no answer from {url} within {timeout:g} s "
            "(upstream.connect_timeout)"
        )
    return f"credentials: not checked: cannot reach {url}: {exc.detail} (upstream.url)"


async def _next_answer(
    link: Link, wait: float, kinds: tuple[str, ...] = ("session.updated", "error")
) -> tuple[str, Any] | None:
    """The next event of one of `kinds` (as (type, event)), ("closed", code) when the socket
    ends, or None after `wait` seconds. Other events (pings...) are skipped."""
    try:
        async with asyncio.timeout(wait):
            while True:
                opcode, data = await link.receive()
                if opcode == CLOSE:
                    return "closed", (link.ended or (None, ""))
                if opcode != TEXT:
                    continue
                try:
                    event = orjson.loads(data)
                except orjson.JSONDecodeError:
                    continue
                kind = event.get("type") if isinstance(event, dict) else None
                if kind in (*kinds, "error"):
                    return str(kind), event
    except TimeoutError:
        return None


def _answer_text(answer: tuple[str, Any] | None, wait: float) -> str:
    if answer is None:
        return f"no answer from Inworld within {wait:g} s (limits.session_start_timeout)"
    if answer[0] == "closed":
        code, reason = answer[1]
        return f"Inworld closed the session ({code} {reason})".rstrip()
    if answer[0] == "error":
        return _error_text(answer[1])
    return f"unexpected {answer[0]}"


def _error_text(event: Any) -> str:
    """`refused: <Inworld's message> [param: <param>]`."""
    error = event.get("error") if isinstance(event, dict) else None
    if not isinstance(error, dict):
        return "refused: (an error event without details)"
    message = error.get("message") or error.get("code") or error.get("type") or "error"
    param = error.get("param")
    return f"refused: {message}" + (f" [param: {param}]" if param else "")


def _verdict(item: Item, answer: tuple[str, Any]) -> str:
    kind, event = answer
    if kind == "error":
        return _error_text(event)
    shown = applied(item, event.get("session"))
    return "ok" if shown is None else f"not applied: Inworld's session shows {shown}"


async def _router(cfg: Config, emit: Emit) -> bool:
    url = cfg.router.models_url
    if not cfg.router.enabled:
        emit("router: skipped (router.enabled = false)")
        return True
    if not url:
        emit('router: skipped (router.models_url = "")')
        return True
    headers = {"Authorization": f"Basic {cfg.upstream.credential}"}
    timeout = aiohttp.ClientTimeout(
        total=cfg.router.read_timeout, sock_connect=cfg.router.connect_timeout
    )
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            body = await response.read()
            status = response.status
    except TimeoutError:
        emit(f"router: not checked: no answer from {url} (router.connect_timeout)")
        return False
    except aiohttp.ClientError as exc:
        emit(f"router: not checked: cannot reach {url}: {exc} (router.models_url)")
        return False
    if status != 200:
        emit(f"router: refused: HTTP {status}: {error_message(body)} ({url})")
        return False
    try:
        models = orjson.loads(body).get("models")
    except (orjson.JSONDecodeError, AttributeError):
        models = None
    if not isinstance(models, list):
        emit(f"router: refused: the answer has no model list ({url})")
        return False
    emit(f"router: ok ({len(models)} models at {url})")
    return True

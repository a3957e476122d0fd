"""Property test of the HTTP layer (issue 18 item 5): whatever a client sends in the request
line, headers, credentials or body, the proxy never answers 5xx and never logs a traceback
or a key.

The proxy runs as `serve` runs it (its own listener, the admission limits, the guard, every
handler), twice: with a client key and without (loopback mode), in front of the emulator (its
realtime and Router endpoints), on an event loop in a background thread. Hypothesis sends raw
bytes over plain blocking sockets. Standard-library log records (aiohttp's server and access
loggers) go through the production handler (`proxy.web.logs.stdlib_handler`, with the
redactor) into a buffer; the proxy's own structlog lines are rendered by the production
processors into a list.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from proxy.config import ClientsConfig, Config
from proxy.emulator import EMULATOR_PATH, EmulatorSettings, create_emulator_app
from proxy.web.app import create_app
from proxy.web.appkeys import TOKEN_SECRET
from proxy.web.listener import proxy_site, serve_options
from proxy.web.logs import Redactor, line_processors, stdlib_handler
from proxy.web.tokens import mint
from tests.support.stack import KEY, SECRET, proxy_config

CLIENT_KEY = "ck-fuzz-client-key-0123456789"


@dataclasses.dataclass
class Servers:
    """The two proxies (keyed, open), a valid token for each, and everything they logged."""

    keyed: int
    open: int
    tokens: dict[int, str]
    stdlib: io.StringIO
    lines: list[str]

    def text(self) -> str:
        return self.stdlib.getvalue() + "\n".join(self.lines)


class _Lines:
    """A structlog logger that keeps each rendered line."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def msg(self, message: bytes | str) -> None:
        self._lines.append(message.decode() if isinstance(message, bytes) else message)

    debug = info = warning = error = critical = exception = msg


async def _start(ready: threading.Event, stop: asyncio.Event, out: dict[str, Any]) -> None:
    emulator = web.AppRunner(
        create_emulator_app(EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0))
    )
    await emulator.setup()
    site = web.TCPSite(emulator, "127.0.0.1", 0)
    await site.start()
    port = emulator.addresses[0][1]
    cfg: Config = proxy_config(f"ws://127.0.0.1:{port}{EMULATOR_PATH}")
    router = dataclasses.replace(
        cfg.router,
        url=f"http://127.0.0.1:{port}/v1",
        models_url=f"http://127.0.0.1:{port}/llm/v1alpha/models",
    )
    redactor = Redactor([CLIENT_KEY])
    logger = structlog.wrap_logger(
        _Lines(out["lines"]),
        processors=line_processors(redactor),
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    runners = [emulator]
    for name, keys in (("keyed", (CLIENT_KEY,)), ("open", ())):
        app = create_app(
            dataclasses.replace(cfg, router=router, clients=ClientsConfig(api_keys=keys)),
            registry=CollectorRegistry(),
            logger=logger,
        )
        runner = web.AppRunner(app, **serve_options(cfg.limits))
        await runner.setup()
        await proxy_site(runner, "127.0.0.1", 0, None).start()
        runners.append(runner)
        out[name] = int(runner.addresses[0][1])
        out.setdefault("tokens", {})[out[name]] = mint(
            app[TOKEN_SECRET], {"model": "gpt-realtime"}, ttl=600, now=time.time()
        )[0]
    ready.set()
    await stop.wait()
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """Both proxies on a background loop, for the whole module."""
    stream = io.StringIO()
    handler = stdlib_handler(Redactor([CLIENT_KEY]), stream=stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    out: dict[str, Any] = {"lines": []}
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_start(ready, stop, out))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(20)
    try:
        yield Servers(out["keyed"], out["open"], out["tokens"], stream, out["lines"])
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        root.removeHandler(handler)
        root.setLevel(old_level)


_VISIBLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_PATHS = st.sampled_from(
    [
        "/v1/realtime", "/realtime", "/v1/realtime?model=gpt-realtime",
        "/v1/realtime/client_secrets", "/v1/realtime/sessions", "/v1/realtime/calls",
        "/v1/chat/completions", "/v1/models", "/v1/models/gpt-realtime", "/healthz", "/readyz",
        "/metrics", "/", "/v1/realtime?api-key=" + CLIENT_KEY, "/%2e%2e/x", "/v1/models/%ff",
    ]
) | st.text(_VISIBLE, max_size=30).map(lambda s: "/" + s.replace(" ", ""))  # fmt: skip
_HEADER_NAMES = st.sampled_from(
    [
        "Authorization", "api-key", "Origin", "Sec-WebSocket-Protocol", "Content-Type",
        "OpenAI-Beta", "X-User-Id", "Access-Control-Request-Headers", "Accept",
        "Transfer-Encoding", "Content-Encoding", "Expect",
    ]
)  # fmt: skip
_RAW_VALUE = st.text(_VISIBLE, max_size=40).map(str.encode) | st.binary(max_size=40).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"")
)


def _credentials(token: str) -> st.SearchStrategy[bytes]:
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    values = [
        f"Bearer {CLIENT_KEY}", f"Bearer {token}", f"Bearer {forged}", f"Bearer {token[:20]}",
        "Bearer ek_p1_abc.\xc3\xa9", "Bearer", "Basic Zm9vOmJhcg==", f"Bearer {CLIENT_KEY}x",
        f"realtime, openai-insecure-api-key.{token}", f"openai-insecure-api-key.{CLIENT_KEY}",
        "http://[zz", "https://evil.example", "http://localhost:3000", "evil.example",
        "application/json", "realtime=v1", "gzip", "chunked", "100-continue",
    ]  # fmt: skip
    known = st.sampled_from([v.encode("latin-1", "replace") for v in values])
    return st.one_of(known, known, known, _RAW_VALUE)  # mostly meaningful values


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # integers past 64 bits too (orjson refuses them)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_BODIES = (
    st.just(b"")
    | st.binary(max_size=120)
    | _JSON.map(_dumps)
    | st.fixed_dictionaries(
        {},
        optional={
            "model": st.sampled_from(["gpt-realtime", "gpt-4o-mini", "x/y"]) | _JSON,
            "messages": _JSON,
            "session": _JSON,
            "expires_after": _JSON,
            "stream": _JSON,
        },
    ).map(_dumps)
    | st.sampled_from([1, 200, 255, 300, 1030, 3000]).map(lambda n: b"[" * n + b"]" * n)
)


@st.composite
def _requests(draw: st.DrawFn, tokens: dict[int, str]) -> tuple[int, bytes]:
    port = draw(st.sampled_from(sorted(tokens)))
    method = draw(st.sampled_from(["GET", "GET", "POST", "POST", "OPTIONS", "PUT", "HEAD"]))
    lines = [f"{method} {draw(_PATHS)} HTTP/1.1".encode()]
    lines.append(b"Host: " + draw(st.sampled_from([b"127.0.0.1", b"localhost:1"]) | _RAW_VALUE))
    if draw(st.booleans()):
        lines += [
            b"Upgrade: websocket", b"Connection: Upgrade", b"Sec-WebSocket-Version: 13",
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ]  # fmt: skip
    for name, value in draw(
        st.lists(st.tuples(_HEADER_NAMES, _credentials(tokens[port])), max_size=5)
    ):
        lines.append(name.encode() + b": " + value)
    body = draw(_BODIES) if method in ("POST", "PUT") else b""
    lines.append(f"Content-Length: {len(body)}".encode())
    return port, b"\r\n".join(lines) + b"\r\n\r\n" + body


def _status(port: int, request: bytes) -> int | None:
    """The status the proxy answers `request` with (None: it closed without answering)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(ConnectionError):
            sock.sendall(request)
        data = b""
        with contextlib.suppress(ConnectionError):
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                data += chunk
        if b"\r\n" not in data:
            return None
        return int(data.split(b" ", 2)[1])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_request_gets_a_5xx_or_logs_a_traceback_or_a_key(
    servers: Servers, data: st.DataObject
) -> None:
    """Request line, headers, credentials (keys, tokens valid, forged and cut, non-ASCII),
    Origin and Host values, bodies (binary, JSON, nested past orjson's limits): no 5xx; and,
    over every example so far, no traceback and no key in any log line."""
    port, request = data.draw(_requests(servers.tokens))
    status = _status(port, request)
    assert status is None or status < 500, request
    text = servers.text()
    assert "Traceback" not in text
    assert CLIENT_KEY not in text
    assert not any(token in text for token in servers.tokens.values())

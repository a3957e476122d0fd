"""proxy.web.logs and the session's log lines: redaction, fields, no secrets or audio anywhere."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.test_utils import make_mocked_request

from proxy.emulator import EMULATOR_PATH, EmulatorSettings, create_emulator_app, pcm16_tone
from proxy.web.logs import AccessLogger, BadRequestFilter, Redactor, redact
from tests.support.scripted import SERVER_VAD, EndedSessions, b64, session
from tests.support.stack import CREDENTIAL, KEY, SECRET, Stack

ROOT = Path(__file__).resolve().parents[2]
CLIENT_KEY = "sk-proj-client0123456789abcdef"
CLIENT_HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}
CLIENT_PROTOCOLS = ("realtime", f"openai-insecure-api-key.{CLIENT_KEY}")
TONE = b64(pcm16_tone(300))
END_FIELDS = {
    "session_id", "inworld_session_key", "dialect", "model", "inworld_model", "voice",
    "duration_s", "messages_from_client", "messages_from_upstream", "client_close_code",
    "upstream_close_code", "reason", "outcome",
}  # fmt: skip


def forbidden(deltas: list[str]) -> list[str]:
    """Strings that must never appear in a log: credentials and audio payload slices."""
    audio = [TONE[1000:1040]] + [d[len(d) // 2 : len(d) // 2 + 40] for d in deltas if len(d) > 80]
    return [KEY, SECRET, CREDENTIAL, CLIENT_KEY, *audio]


def test_redactor_masks_fields_patterns_and_configured_secrets() -> None:
    """Secret-named fields, credential patterns and configured values are masked at any depth."""
    redactor = Redactor([SECRET, CREDENTIAL, "short"])
    event = {
        "event": f"dial failed with Basic {CREDENTIAL}",
        "Authorization": "Bearer abc",
        "headers": {"X-Api-Key": "k", "nested": [f"token={SECRET}", "Bearer sk-abcdefghijkl"]},
        "subprotocol": f"openai-insecure-api-key.{CLIENT_KEY}",
        "note": f"key {CLIENT_KEY} and ek_1234567890abcdef, risk-assessment, short",
        "audio": TONE,
        "delta": "hi",
    }
    out = redactor(None, "info", dict(event))
    text = orjson.dumps(out).decode()
    for secret in (SECRET, CREDENTIAL, CLIENT_KEY, "ek_1234567890abcdef", "abc", TONE):
        assert secret not in text
    assert out["Authorization"] == "[redacted]"
    assert out["headers"]["X-Api-Key"] == "[redacted]"
    assert out["audio"] == f"[{len(TONE)} chars omitted]"
    assert out["delta"] == "hi"  # short text deltas are harmless
    assert "risk-assessment" in out["note"]
    assert "short" in out["note"]  # configured values under 8 characters are not searched for
    assert redact(None, "info", {"x": f"Basic {CREDENTIAL}"})["x"] == "Basic [redacted]"


async def test_session_logs_have_fields_and_no_secrets_or_audio(stack: Stack) -> None:
    """One start and one end line per session with the documented fields; nothing secret."""
    ends = EndedSessions(stack.proxy.app)
    url = stack.proxy.make_url("/v1/realtime?model=gpt-realtime")
    with structlog.testing.capture_logs() as logs:
        async with session(url, headers=CLIENT_HEADERS, protocols=CLIENT_PROTOCOLS) as client:
            await client.send(type="session.update", session=SERVER_VAD)
            await client.until("session.updated")
            events = await client.spoken_turn()
        await ends.wait()
    deltas = [e["delta"] for e in events if e["type"] == "response.output_audio.delta"]
    [start] = [r for r in logs if r["event"] == "session_start"]
    [end] = [r for r in logs if r["event"] == "session_end"]
    assert start["log_level"] == "info"
    assert start["session_id"] != start["inworld_session_key"]
    assert start["dialect"] == "ga"
    assert start["model"] == "gpt-realtime"
    assert end.keys() >= END_FIELDS
    assert end["voice"] == "marin"
    assert end["inworld_model"] == "openai/gpt-5.5"
    assert end["messages_from_client"] == 3
    assert end["client_close_code"] == 1000
    assert end["turns"] == 1
    per_message = [r for r in logs if r["event"] == "message"]
    assert per_message
    assert {r["log_level"] for r in per_message} == {"debug"}
    text = orjson.dumps(logs, default=str).decode()
    for needle in forbidden(deltas):
        assert needle not in text


@pytest.fixture
async def emulator_url(aiohttp_server: Any) -> str:
    """An emulator that checks the test credentials, for a proxy process to use."""
    settings = EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0)
    server = await aiohttp_server(create_emulator_app(settings))
    return str(server.make_url(EMULATOR_PATH)).replace("http", "ws", 1)


async def test_process_stdout_is_json_lines_without_secrets(
    emulator_url: str, unused_tcp_port: int
) -> None:
    """A real `serve` process at DEBUG: JSON lines (aiohttp's included), no key, no audio."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INWORLD_", "PROXY_"))}
    env.update(
        INWORLD_API_KEY=KEY,
        INWORLD_API_SECRET=SECRET,
        INWORLD_REALTIME_URL=emulator_url,
        PROXY_PORT=str(unused_tcp_port),
        PROXY_LOG_LEVEL="debug",
        PROXY_LOG_FORMAT="json",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "serve",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    lines: list[bytes] = []
    listening = asyncio.Event()

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            lines.append(line)
            if b'"listening"' in line:
                listening.set()

    try:
        async with asyncio.timeout(30), asyncio.TaskGroup() as tasks:
            tasks.create_task(read())
            await listening.wait()
            base = f"ws://127.0.0.1:{unused_tcp_port}/v1/realtime?model=gpt-realtime"
            async with session(base, headers=CLIENT_HEADERS, protocols=CLIENT_PROTOCOLS) as c:
                await c.send(type="session.update", session=SERVER_VAD)
                await c.until("session.updated")
                events = await c.spoken_turn()
            process.send_signal(signal.SIGTERM)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    records = [orjson.loads(line) for line in lines]  # every stdout line is JSON
    names = [r["event"] for r in records]
    assert names.count("session_start") == 1
    assert names.count("session_end") == 1
    [end] = [r for r in records if r["event"] == "session_end"]
    assert end.keys() >= END_FIELDS
    assert end["level"] == "info"
    access = [r for r in records if r["event"] == "http_request"]
    assert any(r["path"] == "/v1/realtime" and r["status"] == 101 for r in access), access
    assert all(r.get("logger") == "aiohttp.access" for r in access)
    assert "message" in names  # per-message lines at DEBUG
    deltas = [e["delta"] for e in events if e["type"] == "response.output_audio.delta"]
    output = b"".join(lines).decode() + (await process.stderr.read()).decode()  # type: ignore[union-attr]
    for needle in forbidden(deltas):
        assert needle not in output


def test_access_logger_omits_query_strings() -> None:
    """The access log records the path without its query (which may carry a key)."""
    records: list[Any] = []

    class Capture:
        def log(self, level: int, msg: str, extra: dict[str, Any]) -> None:
            records.append((level, msg, extra))

        def isEnabledFor(self, level: int) -> bool:
            return True

    request = make_mocked_request("GET", f"/v1/realtime?api_key={CLIENT_KEY}")
    AccessLogger(Capture(), "").log(request, web.Response(status=426), 0.001)  # type: ignore[arg-type]
    [(level, msg, extra)] = records
    assert level == logging.INFO
    assert msg == "http_request"
    assert extra["path"] == "/v1/realtime"
    assert CLIENT_KEY not in orjson.dumps(extra).decode()


# -- issue 18: the forms a key takes in aiohttp's messages, URLs and query strings -------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Invalid header value char: b'api-key: k1secretkey\\x01'", "k1secretkey"),
        ("api_key='k1secretkey'", "k1secretkey"),
        ("X-Api-Key: zzsecretzz", "zzsecretzz"),
        ("GET /v1/realtime?api-key=k1secretkey HTTP/1.1 x", "k1secretkey"),
        ("GET /v1/realtime?model=m&token=tok-secret-1 HTTP/1.1", "tok-secret-1"),
        ("upstream wss://user:hunter2pass@api.example/x", "hunter2pass"),
        ("Authorization: Token abc123secret", "abc123secret"),
        ("Bearer ek_p1_eNqrVkrNSy0qyUxRslIqS8wpTVWqBQBFEgZq.c2lnbmF0dXJlc2ln", "c2lnbmF0dXJl"),
        ("ek_p1_eNqrVkrNSy0qyUxRslIqS8wpTVWqBQBFEgZq.c2lnbmF0dXJlc2ln", "c2lnbmF0dXJl"),
    ],
)
def test_redactor_masks_header_query_url_and_token_forms(text: str, secret: str) -> None:
    """The header form (`api-key: ...`), query parameters, URL passwords, other Authorization
    schemes and whole `ek_` tokens (signature included) are masked."""
    assert secret not in Redactor()(None, "info", {"event": text})["event"]


def test_redactor_knows_configured_client_keys() -> None:
    """A configured client key is masked wherever it appears, even on a folded header line."""
    redactor = Redactor(["k1secretkey-config"])
    out = redactor(None, "info", {"event": "bad header b'x-a: b\\r\\n k1secretkey-config'"})
    assert "k1secretkey-config" not in out["event"]


def _aiohttp_error(exc: Exception) -> logging.LogRecord:
    """The record aiohttp's server logs for a request that raised `exc`."""
    try:
        raise exc
    except Exception:
        info = sys.exc_info()
    return logging.getLogger("aiohttp.server").makeRecord(
        "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
        ("127.0.0.1",), info,
    )  # fmt: skip


def test_unparsable_requests_are_one_debug_line_without_bytes_or_traceback() -> None:
    """aiohttp's ERROR "Error handling request" with the raw line becomes a DEBUG
    `bad_http_request` line naming the status and error class (dropped below DEBUG); a real
    500 keeps its traceback."""
    logger = logging.getLogger("aiohttp.server")
    level = logger.level
    try:
        logger.setLevel(logging.DEBUG)
        bad = _aiohttp_error(BadHttpMessage("Invalid header: b'api-key: k1secretkey\\x01'"))
        bug = _aiohttp_error(RuntimeError("a real bug"))
        assert BadRequestFilter().filter(bad)
        assert BadRequestFilter().filter(bug)
        logger.setLevel(logging.INFO)
        assert not BadRequestFilter().filter(_aiohttp_error(BadHttpMessage("x")))
    finally:
        logger.setLevel(level)
    assert (bad.getMessage(), bad.levelname, bad.exc_info) == ("bad_http_request", "DEBUG", None)
    assert (bad.__dict__["status"], bad.__dict__["error"]) == (400, "BadHttpMessage")
    assert "k1secretkey" not in str(bad.__dict__)
    assert bug.exc_info is not None
    assert bug.levelname == "ERROR"

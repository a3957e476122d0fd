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
from aiohttp.test_utils import make_mocked_request

from proxy.emulator import EMULATOR_PATH, EmulatorSettings, create_emulator_app, pcm16_tone
from proxy.web.logs import AccessLogger, Redactor, redact
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

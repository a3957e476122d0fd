"""Credentials never reach a log line or a client frame, on success and failure paths alike.

Real processes (an `emulator` checking distinctive credentials, proxies in front of it at
DEBUG level), real clients; every byte they print and every frame a client receives is scanned.
"""

from __future__ import annotations

import asyncio
import base64
import signal
import socket
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from tests.support.processes import start_process
from tests.support.stack import proxy_config

TIMEOUT = 20
API_KEY = "inwkey-Q7d1f0a9e2b4c6d8"
API_SECRET = "inwsecret-Z9y8x7w6v5u4t3s2"
CREDENTIAL = base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
CLIENT_KEY = "sk-client-Pq2Rs4Tu6Vw8Xy0z"
SECRETS = (API_KEY, API_SECRET, CREDENTIAL, CLIENT_KEY)


class Captured:
    """A process whose stdout and stderr are read continuously into `text`."""

    def __init__(self, process: Any) -> None:
        self.process = process
        self.chunks: list[bytes] = []
        self.lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def pump(self, stream: Any) -> None:
        while line := await stream.readline():
            self.chunks.append(line)
            try:
                self.lines.put_nowait(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue

    async def wait_for(self, event: str) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while (record := await self.lines.get()).get("event") != event:
                continue
        return record

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")


async def _start(tg: asyncio.TaskGroup, *args: str, env: dict[str, str]) -> Captured:
    captured = Captured(await start_process(*args, env={"PROXY_LOG_LEVEL": "debug", **env}))
    tg.create_task(captured.pump(captured.process.stdout))
    tg.create_task(captured.pump(captured.process.stderr))
    return captured


async def _frames(url: str, script: list[str | bytes]) -> list[str]:
    """Connect like a careless client (key in header and sub-protocol), send `script`."""
    frames: list[str] = []
    headers = {"Authorization": f"Bearer {CLIENT_KEY}", "OpenAI-Beta": "realtime=v1"}
    protocols = ("realtime", f"openai-insecure-api-key.{CLIENT_KEY}")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, headers=headers, protocols=protocols) as ws,
    ):
        for item in script:
            if isinstance(item, bytes):
                await ws.send_bytes(item)
            else:
                await ws.send_str(item)
        async with asyncio.timeout(TIMEOUT):
            while True:
                msg = await ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    frames.append(f"{msg.type.name} {ws.close_code} {msg.extra}")
                    break
                frames.append(msg.data)
                if orjson.loads(msg.data)["type"] == "response.done":
                    await ws.close()
                    break
    return frames


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TURN = [
    '{"type":"session.update","session":{"type":"realtime","model":"gpt-realtime",'
    '"audio":{"output":{"voice":"marin"}},"instructions":"be brief"}}',
    "not json at all",
    b"\x00\x01binary",
    "[1, 2, 3]",
    '{"no_type": true, "event_id": "evt_bad"}',
    '{"type":"session.update","event_id":"evt_t","session":{"audio":{"output":{"voice":7}}}}',
    '{"type":"input_audio_buffer.append","audio":"'
    + base64.b64encode(b"\0" * 4800).decode()
    + '"}',
    '{"type":"conversation.item.create","item":{"type":"message","role":"user",'
    '"content":[{"type":"input_text","text":"hello"}]}}',
    '{"type":"response.create"}',
]


async def test_no_credential_in_logs_or_client_frames() -> None:
    """Full session, bad input, refused and unreachable upstreams: no key, secret or client key."""
    creds = {"INWORLD_API_KEY": API_KEY, "INWORLD_API_SECRET": API_SECRET}
    frames: list[str] = []
    async with asyncio.TaskGroup() as tg:
        emulator = await _start(tg, "emulator", "--port", "0", env={**creds})
        upstream = (await emulator.wait_for("emulator_listening"))["url"]
        good = await _start(tg, "--port", "0", env={**creds, "INWORLD_REALTIME_URL": upstream})
        wrong = await _start(
            tg,
            "--port", "0",
            env={"INWORLD_API_KEY": API_KEY, "INWORLD_API_SECRET": API_SECRET + "x",
                 "INWORLD_REALTIME_URL": upstream},
        )  # fmt: skip
        gone = await _start(
            tg,
            "--port", "0",
            env={**creds, "INWORLD_REALTIME_URL": f"ws://127.0.0.1:{_free_port()}/x"},
        )  # fmt: skip
        processes = (emulator, good, wrong, gone)
        try:
            urls = [(await p.wait_for("listening"))["url"] for p in (good, wrong, gone)]
            frames += await _frames(urls[0], TURN)
            frames += await _frames(urls[1], TURN[:1])
            frames += await _frames(urls[2], TURN[:1])
        finally:
            for p in processes:
                p.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(TIMEOUT):
                for p in processes:
                    await p.process.wait()
    kinds = [orjson.loads(f)["type"] for f in frames if f.startswith("{")]
    assert "response.done" in kinds  # the full session really ran
    codes = [orjson.loads(f)["error"]["code"] for f in frames if '"type":"error"' in f]
    assert {"invalid_json", "invalid_event", "invalid_type", "upstream_unauthorized"} <= set(codes)
    assert "upstream_unavailable" in codes
    logs = "".join(p.text for p in processes)
    assert "session_end" in logs
    for secret in SECRETS:
        assert secret not in logs, f"{secret} logged"
        for frame in frames:
            assert secret not in frame, f"{secret} sent to the client"


async def test_upstream_tls_is_verified(
    tmp_path: Path, aiohttp_server: Any, start_proxy: Any
) -> None:
    """A wss:// upstream with a self-signed certificate is refused: TLS is always verified."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    proc = await asyncio.create_subprocess_exec(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(key), "-out", str(cert),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await proc.wait() == 0
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    reached: list[web.Request] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        reached.append(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"type":"session.created","event_id":"a","session":{}}')
        return ws

    app = web.Application()
    app.router.add_get("/s", handler)
    server = await aiohttp_server(app, ssl=context)
    proxy = await start_proxy(proxy_config(f"wss://127.0.0.1:{server.port}/s"))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(proxy.make_url("/v1/realtime")) as ws,
    ):
        async with asyncio.timeout(TIMEOUT):
            event = await ws.receive_json()
            close = await ws.receive()
    assert event["error"]["code"] == "upstream_unavailable"
    assert (close.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 1011)
    assert reached == []  # the handshake never got past TLS

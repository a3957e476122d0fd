"""The openai Node SDK with no override at all: `wss://` to the proxy's TLS listener.

The SDK always dials `wss://`, so this is how it works unchanged: the proxy started as the
README says (`serve --emulator --tls-cert --tls-key`, a self-signed certificate made with the
README's openssl one-liner) and Node trusting it through `NODE_EXTRA_CA_CERTS`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import orjson

from tests.support.clients import missing, run_node

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 15


async def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 (the README's one-liner)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        missing("openssl", "apt-get install openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    proc = await asyncio.create_subprocess_exec(
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return cert, key


async def listening_url(process: Any) -> str:
    """The URL from the proxy's `listening` log line."""
    async with asyncio.timeout(TIMEOUT):
        while line := await process.stdout.readline():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if record.get("event") == "listening":
                return str(record["url"])
    err = await process.stderr.read()
    raise AssertionError(f"the proxy exited before listening:\n{err.decode()}")


async def test_node_sdk_unchanged_over_tls(tmp_path: Path) -> None:
    """OpenAIRealtimeWS with baseURL https://127.0.0.1:PORT/v1: spoken and tool turns over wss."""
    cert, key = await make_certificate(tmp_path)
    env = {**os.environ, "PROXY_LOG_FORMAT": "json"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "serve", "--emulator", "--port", "0",
        "--tls-cert", str(cert), "--tls-key", str(key),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        url = await listening_url(process)
        assert url.startswith("wss://127.0.0.1:")
        address = url.removeprefix("wss://").split("/", 1)[0]
        # keep reading the proxy's log so its pipe never fills while Node runs
        async with asyncio.TaskGroup() as tasks:
            drain = tasks.create_task(process.stdout.read())
            result = await run_node(
                "openai_ws.mjs", address, "tls", env={"NODE_EXTRA_CA_CERTS": str(cert)}
            )
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(TIMEOUT):
                await drain
                code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    spoken, tool = result["spoken"], result["tool"]
    assert spoken["url"] == f"wss://{address}/v1/realtime?model=gpt-realtime"
    assert spoken["errors"] == []
    assert tool["errors"] == []
    assert spoken["first"] == ["session.created"]
    assert spoken["voice"] == "marin"
    assert spoken["audio_bytes"] >= 4800
    assert spoken["transcript"] == "You said: Hello from the emulator."
    assert spoken["status"] == "completed"
    assert tool["name"] == "get_weather"
    assert tool["answer"] == 'The tool returned: {"forecast": "sunny"}'
    assert code == 0

"""proxy.cli.main: the command line, including real processes and real signals."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from openai import AsyncOpenAI

from proxy.cli.main import _parser, _serve_overrides, main
from proxy.config import load
from tests.support.processes import start_process, stop, wait_for_event

TIMEOUT = 20
ROOT = Path(__file__).resolve().parents[2]


def test_serve_without_credentials_names_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    """No credentials and no --emulator: exit 2 with one line naming the variable."""
    assert main(["serve"], env={}) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "INWORLD_API_KEY" in err[0]
    assert "--emulator" in err[0]


def test_default_command_is_serve(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a subcommand the CLI behaves as `serve`."""
    assert main(["--port", "1"], env={}) == 2
    assert "INWORLD_API_KEY" in capsys.readouterr().err


def test_bad_config_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid config file stops the CLI with the key in the message."""
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nportt = 1\n")
    assert main(["serve", "--emulator", "--config", str(path)], env={}) == 2
    assert "server.portt" in capsys.readouterr().err
    assert main(["serve", "--emulator"], env={"PROXY_CONFIG": str(path)}) == 2
    assert "server.portt" in capsys.readouterr().err


def test_half_credentials_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A key id without its secret is refused at start."""
    assert main(["serve"], env={"INWORLD_API_KEY": "not-base64-id"}) == 2
    assert "INWORLD_API_SECRET" in capsys.readouterr().err


async def test_serve_emulator_demo_process() -> None:
    """The README demo: `python -m proxy --emulator` serves an SDK turn and exits 0 on SIGTERM."""
    process = await start_process("--emulator", "--port", "0")
    try:
        listening = await wait_for_event(process, "listening")
        base = listening["url"].removesuffix("/realtime")
        client = AsyncOpenAI(api_key="sk-demo", websocket_base_url=base)
        async with asyncio.timeout(TIMEOUT):
            async with client.realtime.connect(model="gpt-realtime") as conn:
                await conn.session.update(
                    session={"type": "realtime", "output_modalities": ["text"]}
                )
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "hello there"}],
                    }
                )
                await conn.response.create()
                text = ""
                async for event in conn:
                    if event.type == "response.output_text.delta":
                        text += event.delta
                    if event.type == "response.done":
                        break
        assert "hello there" in text
    finally:
        code = await stop(process)
    assert code == 0


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


async def test_emulator_process_checks_credentials() -> None:
    """`emulator` alone refuses credentials that do not match its environment's."""
    env = {"INWORLD_API_KEY": "ci-key", "INWORLD_API_SECRET": "ci-secret"}
    process = await start_process("emulator", "--port", "0", env=env)
    try:
        listening = await wait_for_event(process, "emulator_listening")
        url = listening["url"] + "?key=s1&protocol=realtime"
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(url, headers=basic("ci-key", "wrong"))
            assert info.value.status == 401
            ws = await http.ws_connect(url, headers=basic("ci-key", "ci-secret"))
            async with asyncio.timeout(TIMEOUT):
                first = await ws.receive_json()
            await ws.close()
        assert first["type"] == "session.created"
    finally:
        code = await stop(process)
    assert code == 0


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["serve", "--emulator", "--host", "0.0.0.0"], {}, "without client keys"),
        (["serve", "--emulator", "--tls-cert", "x.pem"], {}, "--tls-key"),
        (["serve", "--emulator", "--tls-cert", "no.pem", "--tls-key", "no.key"], {}, "--tls-cert"),
    ],
)
def test_unsafe_or_broken_listener_is_refused(
    args: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-loopback listener without keys, or bad TLS flags, stop the CLI at start."""
    assert main(args, env=env) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "env"),
    [
        (["--allow-unauthenticated"], {}),
        ([], {"PROXY_ALLOW_UNAUTHENTICATED": "1"}),
        ([], {"PROXY_API_KEYS": "k1,k2"}),
    ],
)
def test_non_loopback_listener_allowed_with_keys_or_flag(
    flags: list[str], env: dict[str, str]
) -> None:
    """Keys, the flag or its variable make a non-loopback listener acceptable."""
    args = _parser().parse_args(["serve", "--host", "0.0.0.0", *flags])
    cfg = _serve_overrides(load(None, env), args)
    assert cfg.server.host == "0.0.0.0"


@pytest.mark.parametrize("switch", ["1", "0"])
async def test_serve_names_its_event_loop(switch: str) -> None:
    """`listening` names the loop: uvloop when switched on and installed, else asyncio."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        installed = False
    else:
        installed = True
    process = await start_process("--emulator", "--port", "0", env={"PROXY_UVLOOP": switch})
    try:
        listening = await wait_for_event(process, "listening")
    finally:
        assert await stop(process) == 0
    expected = "uvloop" if switch == "1" and installed and sys.platform == "linux" else "asyncio"
    assert listening["event_loop"] == expected


@pytest.mark.parametrize("command", ["serve", "emulator"])
def test_port_in_use_is_one_line_naming_the_port(command: str) -> None:
    """A taken port ends start-up with exit 2 and one line that names the port and how to
    choose another, not a traceback (a real process: start-up configures logging)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [command, "--port", str(port)]
        if command == "serve":
            args.append("--emulator")
        result = subprocess.run(
            [sys.executable, "-m", "proxy", *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith(("INWORLD_", "PROXY_"))},
        )
    assert result.returncode == 2
    err = result.stderr.strip()
    assert err.count("\n") == 0, err
    assert f"127.0.0.1:{port}" in err
    assert "already in use" in err
    assert "--port" in err


def test_dialect_flags_have_help() -> None:
    """`translate --help` explains --beta and --ga."""
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "translate", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "beta dialect" in result.stdout
    assert "GA dialect" in result.stdout

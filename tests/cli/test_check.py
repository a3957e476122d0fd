"""`inworld-realtime-proxy check` against the emulator over real sockets: the exact lines for a
setup Inworld accepts, a wrong secret, an unknown model and an unknown voice."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from proxy.cli.check_items import Item, applied, config_items, describe
from proxy.cli.main import main
from proxy.config import load
from proxy.emulator import EMULATOR_PATH, EmulatorSettings, create_emulator_app
from proxy.emulator.catalog import KNOWN_BARE_LLMS
from tests.support.stack import KEY, SECRET

ENV = {"INWORLD_API_KEY": KEY, "INWORLD_API_SECRET": SECRET}
VOICE_LINES = [
    "voice Ashley (voices.default; voices.map: alloy): ok",
    "voice Mark (voices.map: ash): ok",
    "voice Edward (voices.map: ballad): ok",
    "voice Theodore (voices.map: cedar): ok",
    "voice Olivia (voices.map: coral): ok",
    "voice Dennis (voices.map: echo): ok",
    "voice Sarah (voices.map: marin): ok",
    "voice Wendy (voices.map: sage): ok",
    "voice Luna (voices.map: shimmer): ok",
    "voice Blake (voices.map: verse): ok",
]
STT_LINE = (
    "stt inworld/inworld-stt-1 (transcription.fallback; transcription.map: whisper-1, "
    "gpt-4o-transcribe, gpt-4o-mini-transcribe, gpt-4o-transcribe-diarize, "
    "gpt-realtime-whisper, gpt-live-transcribe): ok"
)


@pytest.fixture
async def emulator(aiohttp_server: Any) -> TestServer:
    """The emulator on loopback, checking the test credentials."""
    settings = EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0.05)
    server: TestServer = await aiohttp_server(create_emulator_app(settings))
    return server


def config_file(tmp_path: Path, emulator: TestServer, extra: str = "") -> Path:
    """A config pointing the realtime and Router checks at the emulator."""
    ws = str(emulator.make_url(EMULATOR_PATH)).replace("http", "ws", 1)
    path = tmp_path / "proxy.toml"
    path.write_text(
        f'[upstream]\nurl = "{ws}"\n'
        f'[router]\nmodels_url = "{emulator.make_url("/llm/v1alpha/models")}"\n{extra}'
    )
    return path


async def check(
    capsys: pytest.CaptureFixture[str], *args: str, env: dict[str, str] = ENV
) -> tuple[int, list[str], str]:
    status = await asyncio.to_thread(main, ["check", *args], env)
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def head(emulator: TestServer) -> list[str]:
    ws = str(emulator.make_url(EMULATOR_PATH)).replace("http", "ws", 1)
    return [f"credentials: ok ({ws})", "session.update: ok (the proxy's first update)"]


def router_ok(emulator: TestServer) -> str:
    url = emulator.make_url("/llm/v1alpha/models")
    return f"router: ok ({len(KNOWN_BARE_LLMS)} models at {url})"


async def test_the_default_setup_passes(
    emulator: TestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every configured id is accepted: exit 0 and one `ok` line per distinct id."""
    status, lines, err = await check(capsys, "--config", str(config_file(tmp_path, emulator)))
    assert (status, err) == (0, "")
    assert lines == [
        *head(emulator),
        "model openai/gpt-5.5 (models.fallback; models.map: gpt-realtime, gpt-realtime-2, "
        'gpt-4o-realtime-preview, gpt-live-1, "gpt-live-1.1"): ok',
        "model openai/gpt-5.4-mini (models.map: gpt-realtime-mini, "
        "gpt-4o-mini-realtime-preview): ok",
        STT_LINE,
        "tts inworld-tts-2 (tts.model): ok",
        *VOICE_LINES,
        router_ok(emulator),
    ]


async def test_a_wrong_secret_names_the_credentials(
    emulator: TestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """INWORLD_API_SECRET=wrong: exit 1, and the first line names the variables to check."""
    path = config_file(tmp_path, emulator)
    env = {**ENV, "INWORLD_API_SECRET": "wrong"}
    status, lines, _ = await check(capsys, "--config", str(path), env=env)
    ws = str(emulator.make_url(EMULATOR_PATH)).replace("http", "ws", 1)
    assert status == 1
    assert lines == [
        f"credentials: refused: HTTP 401 from {ws}; check INWORLD_API_KEY and INWORLD_API_SECRET",
        f"router: refused: HTTP 401: Invalid API key. ({emulator.make_url('/llm/v1alpha/models')})",
    ]


async def test_an_unknown_model_and_voice_are_named(
    emulator: TestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A models.map target nosuch/model and a voices.map target Nosuch: Inworld's errors
    verbatim with their param, on the lines of exactly those ids; the rest stays ok."""
    extra = '[models.map]\n"gpt-realtime" = "nosuch/model"\n[voices.map]\necho = "Nosuch"\n'
    status, lines, _ = await check(capsys, "--config", str(config_file(tmp_path, emulator, extra)))
    assert status == 1
    assert (
        "model nosuch/model (models.map: gpt-realtime): refused: Invalid value 'nosuch/model' "
        "for 'session.model'. [param: session.model]"
    ) in lines
    assert (
        "voice Nosuch (voices.map: echo): refused: Invalid value 'Nosuch' for "
        "'session.audio.output.voice'. [param: session.audio.output.voice]"
    ) in lines
    assert len([line for line in lines if ": refused: " in line]) == 2
    assert len(lines) == 2 + 3 + 1 + 1 + 10 + 1  # head, models, stt, tts, voices, router
    assert lines[1] == "session.update: ok (the proxy's first update)"


async def test_the_proxys_first_update_is_checked_as_sent(
    emulator: TestServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad voices.default breaks the proxy's own first update: that line says so too; a
    [turn_detection] override is one more item; a disabled Router is skipped."""
    extra = (  # follows the [router] table's models_url line
        'enabled = false\n[voices]\ndefault = "nobody"\n[turn_detection]\nmode = "override"\n'
        'value = { type = "semantic_vad", eagerness = "low" }\n'
    )
    status, lines, _ = await check(capsys, "--config", str(config_file(tmp_path, emulator, extra)))
    assert status == 1
    assert lines[1] == (
        "session.update: refused: Invalid value 'nobody' for 'session.audio.output.voice'. "
        "[param: session.audio.output.voice] (the proxy's first update)"
    )
    assert 'turn_detection {"type":"semantic_vad","eagerness":"low"} (turn_detection): ok' in lines
    assert lines[-1] == "router: skipped (router.enabled = false)"


async def test_unreachable_and_missing_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listening: one line naming the URL and the key to fix, exit 1. No credentials
    at all: exit 2, as for serve."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "p.toml"
    path.write_text(f'[upstream]\nurl = "ws://127.0.0.1:{port}/x"\n[router]\nenabled = false\n')
    status, lines, _ = await check(capsys, "--config", str(path))
    assert status == 1
    assert lines[0].startswith(f"credentials: not checked: cannot reach ws://127.0.0.1:{port}/x:")
    assert lines[0].endswith("(upstream.url)")
    status, lines, err = await check(capsys, env={})
    assert (status, lines) == (2, [])
    assert "INWORLD_API_KEY is not set" in err


async def test_emulator_switch(capsys: pytest.CaptureFixture[str]) -> None:
    """`check --emulator` needs no key and passes with the default configuration."""
    status, lines, _ = await check(capsys, "--emulator", env={})
    assert status == 0
    assert lines[0].startswith("credentials: ok (ws://127.0.0.1:")
    assert lines[-1].startswith(f"router: ok ({len(KNOWN_BARE_LLMS)} models at http://127.0.0.1:")
    assert all(": ok" in line for line in lines), lines


def test_items_group_every_key_that_names_an_id(tmp_path: Path) -> None:
    """Routes' inworld variants and fallbacks are items; openai variants are not; a session
    that shows another value is reported as not applied."""
    path = tmp_path / "p.toml"
    path.write_text(
        '[routing.routes."gpt-realtime"]\nvariants = [{ model = "openai/gpt-5.5" }, '
        '{ provider = "openai", model = "gpt-realtime" }]\nfallback = ["groq/x"]\n'
    )
    items = config_items(load(path, {"OPENAI_API_KEY": "sk-x"}))
    described = [describe(item) for item in items if item.kind == "model"]
    assert described[0] == (
        "model openai/gpt-5.5 (models.fallback; models.map: gpt-realtime, gpt-realtime-2, "
        'gpt-4o-realtime-preview, gpt-live-1, "gpt-live-1.1"; '
        "routing.routes.gpt-realtime.variants[0])"
    )
    assert described[-1] == "model groq/x (routing.routes.gpt-realtime.fallback[0])"
    voice = Item("voice", "Ashley", ["voices.default"])
    assert applied(voice, {"audio": {"output": {"voice": "Ashley"}}}) is None
    assert applied(voice, {"audio": {"output": {"voice": "Dennis"}}}) == '"Dennis"'
    turns = Item("turn_detection", {"type": "server_vad"})
    assert (
        applied(turns, {"audio": {"input": {"turn_detection": {"type": "server_vad", "x": 1}}}})
        is None
    )

"""`inworld-realtime-proxy translate FILE`: what the proxy would send for a session.update."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from proxy.cli.main import main

GA = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "model": "gpt-realtime",
        "audio": {"output": {"voice": "marin"}, "input": {"transcription": {"model": "whisper-1"}}},
        "tracing": "auto",
    },
}
BETA = {"type": "session.update", "session": {"voice": "alloy", "modalities": ["text"]}}


def run(
    tmp_path: Path, content: Any, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, Any, str]:
    path = tmp_path / "update.json"
    path.write_text(content if isinstance(content, str) else orjson.dumps(content).decode())
    status = main(["translate", str(path), *args], env={})
    out, err = capsys.readouterr()
    return status, orjson.loads(out) if out.strip() else None, err


def test_ga_update_is_translated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A GA update: model, voice and STT mapped, tracing dropped, as a session would send it."""
    status, out, err = run(tmp_path, GA, capsys=capsys)
    assert status == 0
    session = out["session"]
    assert session["model"] == "openai/gpt-5.5"
    assert session["audio"]["output"]["voice"] == "Sarah"
    assert session["audio"]["input"]["transcription"]["model"] == "inworld/inworld-stt-1"
    assert "tracing" not in session
    assert "# dialect: ga" in err


def test_beta_update_is_detected_by_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A flat beta session (also given bare, without the event) comes out in GA layout."""
    for content in (BETA, BETA["session"]):
        status, out, err = run(tmp_path, content, capsys=capsys)
        assert status == 0
        assert out["session"]["type"] == "realtime"
        assert out["session"]["output_modalities"] == ["text"]
        assert out["session"]["audio"]["output"]["voice"] == "Ashley"
        assert "# dialect: beta" in err


def test_initial_update_and_forced_dialect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--initial prints the proxy's own first update too; --ga forces the GA reading."""
    status, out, _ = run(
        tmp_path,
        {"voice": "ash"},
        "--initial",
        "--model",
        "gpt-realtime-mini",
        "--ga",
        capsys=capsys,
    )
    assert status == 0
    initial, update = out
    assert initial["session"]["model"] == "openai/gpt-5.4-mini"
    assert initial["session"]["audio"]["output"]["model"] == "inworld-tts-2"
    assert update["session"] == {"voice": "ash"}  # read as GA: a top-level voice is left alone


def test_routed_model_uses_the_callers_variant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a route, --key picks the variant exactly as a session's sticky key would."""
    config = tmp_path / "proxy.toml"
    config.write_text(
        '[routing.routes."gpt-realtime"]\n'
        'variants = [{model = "anthropic/claude-sonnet-4-6", name = "claude"}]\n'
    )
    status, out, err = run(tmp_path, GA, "--config", str(config), "--key", "sk-x", capsys=capsys)
    assert status == 0
    assert out["session"]["model"] == "anthropic/claude-sonnet-4-6"
    assert "variant claude" in err


def test_refusals_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Invalid JSON, another event, or a field of the wrong type: exit 1 with the reason."""
    status, _, err = run(tmp_path, "{nope", capsys=capsys)
    assert (status, "not valid JSON" in err) == (1, True)
    status, _, err = run(tmp_path, {"type": "response.create"}, capsys=capsys)
    assert (status, "expected a session.update" in err) == (1, True)
    bad = {"type": "session.update", "session": {"type": "realtime", "model": 5}}
    status, _, err = run(tmp_path, bad, capsys=capsys)
    assert status == 1
    assert orjson.loads(err[err.index("{") :])["error"]["code"] == "invalid_type"
    assert main(["translate", str(tmp_path / "missing.json")], env={}) == 2


def test_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """FILE '-' reads the update from standard input."""
    monkeypatch.setattr("sys.stdin", io.StringIO(orjson.dumps(GA).decode()))
    assert main(["translate", "-"], env={}) == 0
    assert orjson.loads(capsys.readouterr().out)["session"]["model"] == "openai/gpt-5.5"

"""Config reload on SIGHUP: a real process, real signals, live and new sessions."""

from __future__ import annotations

import signal
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

from proxy.config import load
from proxy.web.app import create_app
from proxy.web.appkeys import LIVE_CONFIG
from proxy.web.reload import reload_config
from tests.support.processes import start_process, stop, wait_for_event
from tests.support.scripted import session

PLAIN = "[translation]\necho_client_names = false\n"  # session.created shows Inworld's ids


def mapping(model: str) -> str:
    return f'{PLAIN}[models.map]\n"gpt-realtime" = "{model}"\n'


async def test_sighup_reload_applies_to_new_sessions_only(tmp_path: Path) -> None:
    """New sessions get the new rules; a live session keeps its own; a bad file changes nothing."""
    path = tmp_path / "proxy.toml"
    path.write_text(mapping("openai/gpt-5.4-mini"))
    process = await start_process("--emulator", "--port", "0", "--config", str(path))
    try:
        listening = await wait_for_event(process, "listening")
        url = listening["url"] + "?model=gpt-realtime"
        async with session(url) as live:
            assert live.events[-1]["session"]["model"] == "openai/gpt-5.4-mini"

            path.write_text(mapping("anthropic/claude-sonnet-4-6"))
            process.send_signal(signal.SIGHUP)
            reloaded = await wait_for_event(process, "config_reloaded")
            assert reloaded["generation"] == 2
            async with session(url) as new:
                assert new.events[-1]["session"]["model"] == "anthropic/claude-sonnet-4-6"

            # The live session still maps with the rules it started with, and still works.
            await live.send(
                type="session.update", session={"type": "realtime", "model": "gpt-realtime"}
            )
            [updated] = await live.until("session.updated")
            assert updated["session"]["model"] == "openai/gpt-5.4-mini"
            await live.send(
                type="conversation.item.create",
                item={"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "still here"}]},
            )  # fmt: skip
            await live.send(type="response.create", response={"output_modalities": ["text"]})
            done = (await live.until("response.done"))[-1]
            assert done["response"]["status"] == "completed"

        path.write_text("[models]\nfallbak = 1\n")
        process.send_signal(signal.SIGHUP)
        failed = await wait_for_event(process, "config_reload_failed")
        assert "models.fallbak" in failed["error"]
        assert failed["level"] == "error"
        async with session(url) as after:
            assert after.events[-1]["session"]["model"] == "anthropic/claude-sonnet-4-6"
    finally:
        code = await stop(process)
    assert code == 0


def test_reload_keeps_what_needs_a_restart(tmp_path: Path) -> None:
    """Reload swaps rules and routes, but keeps the upstream, listener and Router URLs."""
    path = tmp_path / "proxy.toml"
    path.write_text(mapping("openai/gpt-5.4-mini"))
    app = create_app(load(path, {}), registry=CollectorRegistry(), logger=structlog.get_logger())
    live = app[LIVE_CONFIG]
    before = live.config
    path.write_text(
        mapping("groq/llama-3.3-70b-versatile")
        + '[upstream]\nurl = "wss://elsewhere.example/x"\n[server]\nport = 1\n'
        + '[router]\nurl = "https://elsewhere.example/v1"\nmodel_prefix = ""\n'
        + '[routing.routes.r]\nmodel = "openai/gpt-5.4"\n'
    )
    with structlog.testing.capture_logs() as logs:
        assert reload_config(app, path, {}) is True
    after = live.config
    assert after.rules.model_map["gpt-realtime"] == "groq/llama-3.3-70b-versatile"
    assert set(after.routing.routes) == {"r"}
    assert after.router.model_prefix == ""
    assert (after.upstream, after.server) == (before.upstream, before.server)
    assert after.router.url == before.router.url
    assert [e["event"] for e in logs] == ["config_reloaded"]
    assert live.generation == 2


def test_reload_of_a_missing_file_keeps_the_config(tmp_path: Path) -> None:
    """An unreadable file is refused like an invalid one."""
    app = create_app(load(None, {}), registry=CollectorRegistry(), logger=structlog.get_logger())
    before = app[LIVE_CONFIG].config
    with structlog.testing.capture_logs() as logs:
        assert reload_config(app, tmp_path / "gone.toml", {}) is False
    assert app[LIVE_CONFIG].config is before
    assert logs[0]["event"] == "config_reload_failed"
    assert "gone.toml" in logs[0]["error"]

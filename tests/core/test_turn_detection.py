"""[turn_detection] through the core: what Inworld receives in each mode, per route too."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from proxy.config import Rules, load
from proxy.config.routes import find_route
from proxy.config.turn_detection import TurnDetection
from proxy.core.commands import ToUpstream
from proxy.core.translate import Translator
from proxy.core.turn_detection import retune, rules_for_route
from tests.support.core import config

LOW = {"type": "semantic_vad", "eagerness": "low"}
CLIENT_VAD = {
    "type": "server_vad",
    "threshold": 0.7,
    "silence_duration_ms": 300,
    "create_response": False,
}


def rules(mode: str, value: dict[str, Any] | None = None) -> Rules:
    turns = TurnDetection(mode=mode, value=value or {})  # type: ignore[arg-type]
    return dataclasses.replace(config().rules, turn_detection=turns)


def first_update(rules: Rules, **options: Any) -> dict[str, Any]:
    """The proxy's own first session.update, as sent."""
    [command] = Translator(rules, **options).start()
    assert isinstance(command, ToUpstream)
    session: dict[str, Any] = orjson.loads(command.text)["session"]
    return session


def client_update(rules: Rules, session: dict[str, Any], **options: Any) -> dict[str, Any]:
    """What Inworld receives for one client session.update (after the start)."""
    translator = Translator(rules, **options)
    translator.start()
    event = {"type": "session.update", "event_id": "c1", "session": session}
    [command] = translator.from_client(orjson.dumps(event))
    assert isinstance(command, ToUpstream)
    sent: dict[str, Any] = orjson.loads(command.text)["session"]
    return sent


def turns_of(session: dict[str, Any]) -> Any:
    return session["audio"]["input"]["turn_detection"]


def ga(turns: Any) -> dict[str, Any]:
    return {"type": "realtime", "audio": {"input": {"turn_detection": turns}}}


def test_client_mode_changes_nothing() -> None:
    """The default: the first update sets no turn detection; the client's passes as sent."""
    assert "turn_detection" not in first_update(rules("client")).get("audio", {}).get("input", {})
    assert turns_of(client_update(rules("client"), ga(CLIENT_VAD))) == CLIENT_VAD


def test_override_sets_the_first_update_and_replaces_the_detector() -> None:
    """override: Inworld gets the configured detector from the start and instead of the
    client's; the client's own create_response survives, its server_vad tuning does not."""
    assert turns_of(first_update(rules("override", LOW))) == LOW
    sent = turns_of(client_update(rules("override", LOW), ga(CLIENT_VAD)))
    assert sent == {"type": "semantic_vad", "eagerness": "low", "create_response": False}


def test_defaults_fill_only_unset_fields_of_the_same_detector() -> None:
    """defaults: fields the client left out are filled, the client's values win, and
    fields of another detector type are not added."""
    value = {"type": "server_vad", "silence_duration_ms": 800, "prefix_padding_ms": 200}
    sent = turns_of(client_update(rules("defaults", value), ga({"type": "server_vad"})))
    assert sent == {"type": "server_vad", "silence_duration_ms": 800, "prefix_padding_ms": 200}
    sent = turns_of(client_update(rules("defaults", value), ga(CLIENT_VAD)))
    assert sent == {**CLIENT_VAD, "prefix_padding_ms": 200}
    sent = turns_of(client_update(rules("defaults", value), ga({"type": "semantic_vad"})))
    assert sent == {"type": "semantic_vad"}
    assert turns_of(first_update(rules("defaults", value))) == value


@pytest.mark.parametrize("mode", ["override", "defaults"])
def test_a_client_that_turns_detection_off_keeps_it_off(mode: str) -> None:
    """`turn_detection: null` (push-to-talk) is never replaced."""
    assert turns_of(client_update(rules(mode, LOW), ga(None))) is None


def test_an_update_without_turn_detection_gets_none_added() -> None:
    """Partial updates stay partial: a client update that does not touch turn detection
    gets none (the first update already set it)."""
    sent = client_update(rules("override", LOW), {"type": "realtime", "instructions": "Hi"})
    assert "audio" not in sent


def test_beta_clients_are_retuned_too() -> None:
    """A beta client's flat turn_detection is moved to GA first, then retuned."""
    beta = {"turn_detection": {"type": "server_vad", "threshold": 0.9}, "voice": "alloy"}
    sent = client_update(rules("override", LOW), beta, dialect="beta")
    assert turns_of(sent) == LOW


def test_transcription_sessions_never_start_responses() -> None:
    """A transcription-only session keeps create_response/interrupt_response off even when
    the configured detector says otherwise."""
    value = {**LOW, "create_response": True, "interrupt_response": True}
    start = first_update(rules("override", value), transcription=True)
    assert turns_of(start) == {**LOW, "create_response": False, "interrupt_response": False}
    sent = client_update(rules("override", value), {"type": "transcription"})
    assert turns_of(sent) == {**LOW, "create_response": False, "interrupt_response": False}


def test_retune_returns_the_client_value_when_nothing_changes() -> None:
    """No copy when the rule changes nothing (the core then forwards less)."""
    client = {"type": "semantic_vad", "eagerness": "low"}
    assert retune(TurnDetection(mode="override", value=LOW), client) is client
    assert retune(TurnDetection(mode="defaults", value=LOW), client) is client
    assert retune(TurnDetection(mode="defaults", value=LOW), ["bad"]) == ["bad"]


def test_a_route_overrides_the_global_table(tmp_path: Path) -> None:
    """`turn_detection` on a route replaces `[turn_detection]` for that route only."""
    path = tmp_path / "p.toml"
    path.write_text(
        '[turn_detection]\nmode = "override"\n'
        'value = { type = "semantic_vad", eagerness = "high" }\n'
        '[routing.routes."gpt-realtime"]\nmodel = "openai/gpt-5.5"\n'
        'turn_detection = { mode = "client" }\n'
        '[routing.routes."gpt-realtime-mini"]\nmodel = "openai/gpt-5.4-mini"\n'
        'turn_detection = { mode = "defaults", value = { type = "server_vad", '
        "silence_duration_ms = 900 } }\n"
    )
    cfg = load(path, {})
    plain = rules_for_route(cfg.rules, find_route(cfg.routing, "gpt-4o-realtime-preview"))
    assert turns_of(client_update(plain, ga(CLIENT_VAD))) == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": False,
    }
    own = rules_for_route(cfg.rules, find_route(cfg.routing, "gpt-realtime"))
    assert turns_of(client_update(own, ga(CLIENT_VAD))) == CLIENT_VAD
    mini = rules_for_route(cfg.rules, find_route(cfg.routing, "gpt-realtime-mini"))
    assert turns_of(client_update(mini, ga({"type": "server_vad"}))) == {
        "type": "server_vad",
        "silence_duration_ms": 900,
    }

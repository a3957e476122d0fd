"""[turn_detection] and a route's turn_detection: parsing, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import ConfigError, load


def loaded(tmp_path: Path, text: str) -> object:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return load(path, {})


def test_default_is_client_mode() -> None:
    """Without a file the proxy passes the client's turn detection (as before)."""
    turns = load(None, {}).rules.turn_detection
    assert (turns.mode, dict(turns.value)) == ("client", {})


def test_a_table_with_value_is_read(tmp_path: Path) -> None:
    """Both the inline form and the [turn_detection.value] table form are accepted."""
    for text in (
        '[turn_detection]\nmode = "override"\nvalue = { type = "semantic_vad", eagerness = "low" }',
        '[turn_detection]\nmode = "override"\n[turn_detection.value]\ntype = "semantic_vad"\n'
        'eagerness = "low"',
    ):
        cfg = loaded(tmp_path, text)
        turns = cfg.rules.turn_detection  # type: ignore[attr-defined]
        assert turns.mode == "override"
        assert dict(turns.value) == {"type": "semantic_vad", "eagerness": "low"}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[turn_detection]\nmode = "always"', "'turn_detection.mode' must be client, override"),
        ('[turn_detection]\nmodes = "client"', "unknown configuration key 'turn_detection.modes'"),
        ('[turn_detection]\nmode = "override"', "'turn_detection.value.type' must be set"),
        ('[turn_detection]\nmode = "defaults"', "'turn_detection.value' must not be empty"),
        ('[turn_detection.value]\ntype = "vad"', "'turn_detection.value.type' must be server_vad"),
        (
            '[turn_detection.value]\ntype = "semantic_vad"\nthreshold = 0.5',
            "'turn_detection.value.threshold' does not apply to type 'semantic_vad'",
        ),
        ('[turn_detection.value]\neagerness = "low"', "needs 'turn_detection.value.type'"),
        (
            '[turn_detection.value]\ntype = "server_vad"\nthreshold = 2',
            "'turn_detection.value.threshold' must be a number from 0 to 1",
        ),
        (
            '[turn_detection.value]\ntype = "server_vad"\nsilence_duration_ms = -1',
            "'turn_detection.value.silence_duration_ms' must be an integer >= 0",
        ),
        (
            '[turn_detection.value]\ntype = "semantic_vad"\neagerness = "lazy"',
            "'turn_detection.value.eagerness' must be one of low, medium, high, auto",
        ),
        (
            "[turn_detection.value]\ncreate_response = 1",
            "'turn_detection.value.create_response' must be true or false",
        ),
        (
            "[turn_detection.value]\nspeed = 1",
            "unknown configuration key 'turn_detection.value.speed'",
        ),
        (
            '[routing.routes.x]\nmodel = "openai/gpt-5.5"\nturn_detection = { mode = "override" }',
            "'routing.routes.x.turn_detection.value.type' must be set",
        ),
        (
            '[routing.routes.x]\nmodel = "openai/gpt-5.5"\nturn_detection = { mode = "nope" }',
            "'routing.routes.x.turn_detection.mode'",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    """Every invalid value stops the load with a message naming its key."""
    with pytest.raises(ConfigError) as caught:
        loaded(tmp_path, text)
    assert named in str(caught.value)


def test_api_url_from_file_and_environment(tmp_path: Path) -> None:
    """`upstream.api_url` (the voices API base) is read, INWORLD_API_URL overrides it, and a
    non-HTTP value names the key."""
    assert load(None, {}).upstream.api_url == "https://api.inworld.ai"
    env = {"INWORLD_API_URL": "http://127.0.0.1:9/"}
    assert load(None, env).upstream.api_url == "http://127.0.0.1:9"
    with pytest.raises(ConfigError, match=r"'upstream\.api_url' must be a http or https URL"):
        loaded(tmp_path, '[upstream]\napi_url = "ftp://x"')

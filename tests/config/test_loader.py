"""proxy.config: defaults, file merge, env overrides, and errors that name the key."""

import base64
from pathlib import Path

import pytest

from proxy.config import ConfigError, basic_credential, load

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proxy.toml"
    path.write_text(text)
    return path


def test_shipped_config_file_is_the_defaults() -> None:
    """config/proxy.toml loads to exactly the built-in defaults (the docs cannot rot)."""
    assert load(ROOT / "config" / "proxy.toml", {}) == load(None, {})


def test_defaults() -> None:
    """The documented defaults of the issue are the built-in ones."""
    cfg = load(None, {})
    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 8080)
    assert cfg.upstream.url == "wss://api.inworld.ai/api/v1/realtime/session"
    assert cfg.rules.model_fallback == "openai/gpt-5.5"
    assert cfg.rules.stt_fallback == "inworld/inworld-stt-1"
    assert cfg.rules.tts_model == "inworld-tts-2"
    assert cfg.upstream.credential is None


def test_file_merges_over_defaults(tmp_path: Path) -> None:
    """A partial file changes only its keys; map entries are added to the defaults."""
    path = write(tmp_path, '[voices.map]\nmarin = "Olivia"\nmyvoice = "ws__clone"\n')
    cfg = load(path, {})
    assert cfg.rules.voice_map["marin"] == "Olivia"
    assert cfg.rules.voice_map["myvoice"] == "ws__clone"
    assert cfg.rules.voice_map["alloy"] == "Ashley"
    assert cfg.server.port == 8080


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nprot = 1\n", "server.prot"),
        ("[nonsense]\n", "nonsense"),
        ('[server]\nport = "80"\n', "server.port"),
        ("[server]\nport = 70000\n", "server.port"),
        ("[upstream]\nconnect_timeout = -1\n", "upstream.connect_timeout"),
        ('[upstream]\nurl = "http://example.com/x"\n', "upstream.url"),
        ('[upstream]\nurl = "wss://h/x?key=1"\n', "upstream.url"),
        ("[voices.map]\nalloy = 3\n", "voices.map.alloy"),
        ('[logging]\nlevel = "loud"\n', "logging.level"),
        ("[translation]\necho_client_names = 1\n", "translation.echo_client_names"),
        ("[translation]\ndrop_session_fields = [1]\n", "translation.drop_session_fields"),
        ('[models]\nfallback = ""\n', "models.fallback"),
        ("server = 3\n", "server"),
    ],
)
def test_invalid_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    """Every invalid value fails with a message naming the offending key."""
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(write(tmp_path, text), {})


def test_unparsable_and_missing_files(tmp_path: Path) -> None:
    """A broken or missing file is a ConfigError naming the file."""
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[server\n"), {})
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.toml", {})


def test_environment_overrides() -> None:
    """Environment variables override file values."""
    env = {
        "INWORLD_REALTIME_URL": "ws://127.0.0.1:9/api/v1/realtime/session",
        "PROXY_PORT": "9999",
        "PROXY_HOST": "0.0.0.0",
        "PROXY_LOG_LEVEL": "DEBUG",
    }
    cfg = load(None, env)
    assert cfg.upstream.url == env["INWORLD_REALTIME_URL"]
    assert (cfg.server.host, cfg.server.port) == ("0.0.0.0", 9999)
    assert cfg.logging.level == "debug"
    with pytest.raises(ConfigError, match="PROXY_PORT"):
        load(None, {"PROXY_PORT": "eighty"})


def test_credentials_key_and_secret() -> None:
    """Key and secret become base64(key:secret)."""
    cfg = load(None, {"INWORLD_API_KEY": "id", "INWORLD_API_SECRET": "s3cret"})
    assert cfg.upstream.credential == base64.b64encode(b"id:s3cret").decode()
    assert "s3cret" not in repr(cfg)


def test_credentials_portal_key_sent_verbatim() -> None:
    """A lone portal key that already is base64(id:secret) is used as is."""
    portal = base64.b64encode(b"id:secret").decode()
    assert basic_credential(portal, None) == portal


@pytest.mark.parametrize(
    ("key", "secret", "match"),
    [("plainkey", None, "INWORLD_API_SECRET"), (None, "s", "INWORLD_API_KEY")],
)
def test_credentials_errors(key: str | None, secret: str | None, match: str) -> None:
    """Half a credential is refused with the variable to set."""
    with pytest.raises(ConfigError, match=match):
        basic_credential(key, secret)


def test_uvloop_switch() -> None:
    """server.uvloop defaults on; PROXY_UVLOOP=0/1 overrides it; other words are refused."""
    assert load(None, {}).server.uvloop is True
    assert load(None, {"PROXY_UVLOOP": "0"}).server.uvloop is False
    assert load(None, {"PROXY_UVLOOP": "false"}).server.uvloop is False
    assert load(None, {"PROXY_UVLOOP": "1"}).server.uvloop is True
    with pytest.raises(ConfigError, match="PROXY_UVLOOP"):
        load(None, {"PROXY_UVLOOP": "maybe"})

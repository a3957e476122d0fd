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


# -- issue 18: the hardening keys, and errors that never show a secret --------------------------


def test_hardening_defaults() -> None:
    """The limits before authentication and the token caps have the issue's defaults."""
    cfg = load(None, {})
    limits = cfg.limits
    assert (limits.header_timeout, limits.keepalive_timeout) == (10.0, 15.0)
    assert limits.max_header_bytes == 32768
    assert (limits.max_pending_connections, limits.max_pending_per_address) == (256, 32)
    assert (cfg.tokens.max_sessions, cfg.tokens.locked_fields) == (1, ("model",))
    assert cfg.clients.max_sessions_per_key == 0
    assert cfg.server.allowed_hosts == ()


def test_locked_fields_always_hold_the_model(tmp_path: Path) -> None:
    """tokens.locked_fields lists what else is fixed: the model always is."""
    path = write(tmp_path, '[tokens]\nlocked_fields = ["instructions", "audio.output.voice"]\n')
    assert load(path, {}).tokens.locked_fields == ("model", "instructions", "audio.output.voice")
    with pytest.raises(ConfigError, match=r"tokens\.locked_fields"):
        load(write(tmp_path, '[tokens]\nlocked_fields = ["instruction"]\n'), {})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[limits]\nheader_timeout = 0\n", "limits.header_timeout"),
        ("[limits]\nkeepalive_timeout = -1\n", "limits.keepalive_timeout"),
        ("[limits]\nmax_header_bytes = 0\n", "limits.max_header_bytes"),
        ("[limits]\nmax_pending_per_address = 0\n", "limits.max_pending_per_address"),
        ("[tokens]\nmax_sessions = -1\n", "tokens.max_sessions"),
        ("[clients]\nmax_sessions_per_key = -2\n", "clients.max_sessions_per_key"),
        ('[server]\nallowed_hosts = "x"\n', "server.allowed_hosts"),
    ],
)
def test_hardening_keys_are_checked(tmp_path: Path, text: str, key: str) -> None:
    """Each new key refuses a wrong value, naming itself."""
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(write(tmp_path, text), {})


def test_token_secret_must_be_long_enough() -> None:
    """PROXY_TOKEN_SECRET under 32 bytes stops the start (one token reveals a short one); the
    message never shows it."""
    with pytest.raises(ConfigError, match="at least 32 bytes") as info:
        load(None, {"PROXY_TOKEN_SECRET": "ab"})
    assert "'ab'" not in str(info.value)
    assert load(None, {"PROXY_TOKEN_SECRET": "x" * 32}).tokens.signing_secret == b"x" * 32


def test_forwarding_the_client_key_with_client_keys_is_refused(tmp_path: Path) -> None:
    """forward_client_key = true would send the proxy's own client key to OpenAI."""
    path = write(tmp_path, "[providers.openai]\nforward_client_key = true\n")
    with pytest.raises(ConfigError, match="forward_client_key") as info:
        load(path, {"PROXY_API_KEYS": "prod-client-key-0123456789"})
    assert "prod-client-key" not in str(info.value)
    assert load(path, {}).openai.forward_client_key is True  # alone it is fine


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('[clients]\napi_keys = "prod-client-key-0123456789"\n', "prod-client-key"),
        ('[upstream]\nurl = "https://user:hunter2secret@h.example/x?key=k"\n', "hunter2"),
        ('[router]\nurl = "ftp://user:hunter2secret@h.example"\n', "hunter2"),
        ('[providers.openai]\nurl = "https://u:hunter2secret@api.example"\n', "hunter2"),
        ('[router]\nmodels_url = "http://[zz:hunter2secret"\n', "hunter2"),
        ("[router]\nurl = 123456789\n", "123456789"),
    ],
)
def test_errors_never_show_the_value(tmp_path: Path, text: str, secret: str) -> None:
    """A key of the wrong type or a bad URL is named with what was expected, never its value
    (URLs are shown without their credentials and query)."""
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), {})
    assert secret not in str(info.value)
    assert "must be" in str(info.value)


def test_allowed_hosts_from_file_and_environment(tmp_path: Path) -> None:
    """PROXY_ALLOWED_HOSTS adds to server.allowed_hosts; names are compared lower-cased."""
    path = write(tmp_path, '[server]\nallowed_hosts = ["Proxy.Internal"]\n')
    cfg = load(path, {"PROXY_ALLOWED_HOSTS": "proxy, other.lan ,"})
    assert cfg.server.allowed_hosts == ("proxy.internal", "proxy", "other.lan")

"""Configuration: the only module that reads configuration files or the environment.

`load(path, env)` merges a TOML file over the built-in defaults (`proxy/defaults.toml`, also
shipped as `config/proxy.toml`), applies environment overrides from the injected `env` mapping
and returns a frozen `Config`. Anything invalid raises `ConfigError` whose message names the key.
The value types live in `proxy.config.types` and are re-exported here.
"""

from __future__ import annotations

import base64
import binascii
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from proxy.config import checks
from proxy.config.routes import RouteConfigError, RoutingConfig, parse_routing
from proxy.config.types import (
    ClientsConfig,
    Config,
    ConfigError,
    EmulatorConfig,
    LimitsConfig,
    LogFormat,
    LoggingConfig,
    OpenAIConfig,
    RouterConfig,
    Rules,
    ServerConfig,
    TokensConfig,
    UpstreamConfig,
)

__all__ = [
    "ClientsConfig",
    "Config",
    "ConfigError",
    "EmulatorConfig",
    "LimitsConfig",
    "LoggingConfig",
    "OpenAIConfig",
    "RouterConfig",
    "Rules",
    "ServerConfig",
    "TokensConfig",
    "UpstreamConfig",
    "basic_credential",
    "load",
]

_LEVELS = ("debug", "info", "warning", "error")


def basic_credential(key: str | None, secret: str | None) -> str | None:
    """Return the Inworld Basic credential from the two environment values.

    With both set: base64(`key:secret`). With only `key` set it must already be the portal's
    base64 `id:secret` credential and is returned verbatim (encoding it again is the classic
    mistake that fails auth). With neither: None.

    Raises:
        ConfigError: only the secret is set, or a lone key is not a base64 `id:secret` value.
    """
    if key and secret:
        return base64.b64encode(f"{key}:{secret}".encode()).decode()
    if secret:
        raise ConfigError("INWORLD_API_SECRET is set but INWORLD_API_KEY is not")
    if not key:
        return None
    try:
        decoded = base64.b64decode(key, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if ":" not in decoded:
        raise ConfigError(
            "INWORLD_API_KEY is not the portal's base64 'id:secret' credential; "
            "set INWORLD_API_SECRET as well if it is only the key id"
        )
    return key


def load(path: Path | None, env: Mapping[str, str]) -> Config:
    """Read defaults, then `path` (TOML), then `env` overrides; validate everything.

    Args:
        path: a TOML file merged over the built-in defaults, or None for defaults only.
        env: the environment (tests pass a dict; the CLI passes `os.environ`).

    Raises:
        ConfigError: a file cannot be read or parsed, or a key is unknown or invalid.
    """
    raw = _defaults()
    if path is not None:
        try:
            user = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        raw = _merge(raw, user, "")
    raw = _apply_env(raw, env)
    return _build(raw, env)


def _defaults() -> dict[str, Any]:
    text = resources.files("proxy.config").joinpath("defaults.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


_FREE_TABLES = ("map", "routes")


def _merge(base: dict[str, Any], over: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        name = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"unknown configuration key '{name}'")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"'{name}' must be a table")
            if key in _FREE_TABLES:  # map tables take any entry
                out[key] = {**base[key], **value}
            else:
                out[key] = _merge(base[key], value, f"{name}.")
        else:
            out[key] = value
    return out


_ENV_OVERRIDES = {
    "INWORLD_REALTIME_URL": ("upstream", "url", str),
    "INWORLD_ROUTER_URL": ("router", "url", str),
    "PROXY_HOST": ("server", "host", str),
    "PROXY_PORT": ("server", "port", int),
    "PROXY_LOG_LEVEL": ("logging", "level", str),
    "PROXY_LOG_FORMAT": ("logging", "format", str),
    "PROXY_UVLOOP": ("server", "uvloop", bool),
}
_BOOL_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    for var, (section, key, kind) in _ENV_OVERRIDES.items():
        value = env.get(var)
        if not value:
            continue
        if kind is bool:
            if value.lower() not in _BOOL_WORDS:
                raise ConfigError(f"{var} must be 1/0 (or true/false), got {value!r}")
            raw[section] = {**raw[section], key: _BOOL_WORDS[value.lower()]}
            continue
        try:
            raw[section] = {**raw[section], key: kind(value)}
        except ValueError:
            raise ConfigError(f"{var} must be an integer, got {value!r}") from None
    return raw


def _tls(srv: Mapping[str, Any]) -> tuple[str | None, str | None]:
    cert = checks.get(srv, "server", "tls_cert", str) or None
    key = checks.get(srv, "server", "tls_key", str) or None
    if (cert is None) != (key is None):
        raise ConfigError("'server.tls_cert' and 'server.tls_key' must be set together")
    for name, path in (("server.tls_cert", cert), ("server.tls_key", key)):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"'{name}' is not a readable file: {path}")
    return cert, key


def _clients(raw: Mapping[str, Any], env: Mapping[str, str]) -> ClientsConfig:
    table = raw["clients"]
    keys = checks.str_list(table, "clients", "api_keys")
    keys += tuple(k.strip() for k in env.get("PROXY_API_KEYS", "").split(",") if k.strip())
    allow = checks.get(table, "clients", "allow_unauthenticated", bool)
    if env.get("PROXY_ALLOW_UNAUTHENTICATED", "").lower() in ("1", "true", "yes"):
        allow = True
    return ClientsConfig(
        api_keys=keys,
        allow_unauthenticated=allow,
        allowed_origins=checks.str_list(table, "clients", "allowed_origins"),
    )


def _tokens(raw: Mapping[str, Any], env: Mapping[str, str]) -> TokensConfig:
    max_ttl = checks.get(raw["tokens"], "tokens", "max_ttl", int)
    if not 10 <= max_ttl <= 86400:
        raise ConfigError(f"'tokens.max_ttl' must be between 10 and 86400 seconds, got {max_ttl}")
    secret = env.get("PROXY_TOKEN_SECRET", "")
    return TokensConfig(
        max_ttl=max_ttl,
        signing_secret=secret.encode() if secret else None,
    )


def _openai(raw: Mapping[str, Any], env: Mapping[str, str]) -> OpenAIConfig:
    table, name = raw["providers"]["openai"], "providers.openai"
    url = checks.http_url(checks.get(table, name, "url", str), f"{name}.url", schemes=("ws", "wss"))
    if urlsplit(url).query:
        raise ConfigError(f"'{name}.url' must not carry a query; the proxy adds ?model=")
    return OpenAIConfig(
        url=url,
        rest_url=checks.http_url(checks.get(table, name, "rest_url", str), f"{name}.rest_url"),
        connect_timeout=checks.positive(
            checks.get(table, name, "connect_timeout", float), f"{name}.connect_timeout"
        ),
        forward_client_key=checks.get(table, name, "forward_client_key", bool),
        api_key=env.get("OPENAI_API_KEY") or None,
    )


def _router(raw: Mapping[str, Any]) -> RouterConfig:
    table = raw["router"]
    models_url = checks.get(table, "router", "models_url", str)
    return RouterConfig(
        enabled=checks.get(table, "router", "enabled", bool),
        url=checks.http_url(checks.get(table, "router", "url", str), "router.url"),
        models_url=models_url and checks.http_url(models_url, "router.models_url"),
        model_prefix=checks.get(table, "router", "model_prefix", str),
        connect_timeout=checks.positive(
            checks.get(table, "router", "connect_timeout", float), "router.connect_timeout"
        ),
        read_timeout=checks.positive(
            checks.get(table, "router", "read_timeout", float), "router.read_timeout"
        ),
    )


def _routing(raw: Mapping[str, Any], openai: OpenAIConfig) -> RoutingConfig:
    try:
        routing = parse_routing(raw["routing"])
    except RouteConfigError as exc:
        raise ConfigError(str(exc)) from None
    uses_openai = any(
        v.provider == "openai"
        for route in routing.routes.values()
        for v in (*route.variants, *route.fallback)
    )
    if uses_openai and openai.api_key is None and not openai.forward_client_key:
        raise ConfigError(
            "'routing.routes' use provider 'openai' but OPENAI_API_KEY is not set "
            "(or set 'providers.openai.forward_client_key = true')"
        )
    return routing


def _limits(table: Mapping[str, Any]) -> LimitsConfig:
    def seconds(key: str) -> float:
        return checks.positive(
            checks.get(table, "limits", key, float), f"limits.{key}", zero_ok=True
        )

    def count(key: str) -> int:
        return int(checks.positive(checks.get(table, "limits", key, int), f"limits.{key}"))

    close_timeout = seconds("close_timeout")
    if close_timeout == 0:
        raise ConfigError("'limits.close_timeout' must be > 0, got 0.0")
    return LimitsConfig(
        max_sessions=count("max_sessions"),
        heartbeat_interval=seconds("heartbeat_interval"),
        idle_timeout=seconds("idle_timeout"),
        max_session_duration=seconds("max_session_duration"),
        session_start_timeout=seconds("session_start_timeout"),
        max_queued_bytes=count("max_queued_bytes"),
        close_timeout=close_timeout,
        shutdown_grace=seconds("shutdown_grace"),
    )


def _build(raw: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    srv, up, emu = raw["server"], raw["upstream"], raw["emulator"]
    tls_cert, tls_key = _tls(srv)
    models, stt, voices = raw["models"], raw["transcription"], raw["voices"]
    tr, lg = raw["translation"], raw["logging"]
    drop_fields = checks.get(tr, "translation", "drop_session_fields", list)
    if not all(isinstance(item, str) for item in drop_fields):
        raise ConfigError("'translation.drop_session_fields' must be a list of strings")
    level = checks.get(lg, "logging", "level", str).lower()
    if level not in _LEVELS:
        raise ConfigError(f"'logging.level' must be one of {', '.join(_LEVELS)}, got {level!r}")
    fmt = checks.get(lg, "logging", "format", str)
    if fmt not in ("json", "console", "auto"):
        raise ConfigError(f"'logging.format' must be json, console or auto, got {fmt!r}")
    openai = _openai(raw, env)
    return Config(
        routing=_routing(raw, openai),
        openai=openai,
        router=_router(raw),
        server=ServerConfig(
            host=checks.nonempty(checks.get(srv, "server", "host", str), "server.host"),
            port=checks.port(checks.get(srv, "server", "port", int), "server.port"),
            max_message_bytes=int(
                checks.positive(
                    checks.get(srv, "server", "max_message_bytes", int), "server.max_message_bytes"
                )
            ),
            uvloop=checks.get(srv, "server", "uvloop", bool),
            tls_cert=tls_cert,
            tls_key=tls_key,
            demo_page=checks.get(srv, "server", "demo_page", bool),
        ),
        clients=_clients(raw, env),
        tokens=_tokens(raw, env),
        upstream=UpstreamConfig(
            url=checks.upstream_url(checks.get(up, "upstream", "url", str)),
            connect_timeout=checks.positive(
                checks.get(up, "upstream", "connect_timeout", float), "upstream.connect_timeout"
            ),
            credential=basic_credential(
                env.get("INWORLD_API_KEY") or None, env.get("INWORLD_API_SECRET") or None
            ),
        ),
        rules=Rules(
            model_fallback=checks.nonempty(
                checks.get(models, "models", "fallback", str), "models.fallback"
            ),
            model_map=checks.str_map(models, "models"),
            stt_fallback=checks.nonempty(
                checks.get(stt, "transcription", "fallback", str), "transcription.fallback"
            ),
            stt_map=checks.str_map(stt, "transcription"),
            transcription_when_absent=checks.get(stt, "transcription", "enable_when_absent", bool),
            tts_model=checks.nonempty(checks.get(raw["tts"], "tts", "model", str), "tts.model"),
            voice_default=checks.nonempty(
                checks.get(voices, "voices", "default", str), "voices.default"
            ),
            voice_map=checks.str_map(voices, "voices"),
            echo_client_names=checks.get(tr, "translation", "echo_client_names", bool),
            drop_session_fields=tuple(drop_fields),
            drop_inworld_only_events=checks.get(
                tr, "translation", "drop_inworld_only_events", bool
            ),
        ),
        logging=LoggingConfig(level=level, format=cast(LogFormat, fmt)),
        limits=_limits(raw["limits"]),
        emulator=EmulatorConfig(
            host=checks.nonempty(checks.get(emu, "emulator", "host", str), "emulator.host"),
            port=checks.port(checks.get(emu, "emulator", "port", int), "emulator.port"),
            ping_interval=checks.positive(
                checks.get(emu, "emulator", "ping_interval", float),
                "emulator.ping_interval",
                zero_ok=True,
            ),
            response_pace=checks.positive(
                checks.get(emu, "emulator", "response_pace", float),
                "emulator.response_pace",
                zero_ok=True,
            ),
            api_key=env.get("INWORLD_API_KEY") or None,
            api_secret=env.get("INWORLD_API_SECRET") or None,
        ),
    )

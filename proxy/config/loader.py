"""Configuration: the only module that reads configuration files or the environment.

`load(path, env)` merges a TOML file over the built-in defaults (`proxy/defaults.toml`, also
shipped as `config/proxy.toml`), applies environment overrides from the injected `env` mapping
and returns a frozen `Config`. Anything invalid raises `ConfigError` whose message names the key.
The value types live in `proxy.config.types` and are re-exported here.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from proxy.config import checks
from proxy.config.routes import RouteConfigError, RoutingConfig, parse_routing
from proxy.config.turn_detection import (
    TurnDetection,
    TurnDetectionConfigError,
    parse_turn_detection,
)
from proxy.config.types import (
    ClientsConfig,
    Config,
    ConfigError,
    EmulatorConfig,
    LimitsConfig,
    LiveApiConfig,
    LogFormat,
    LoggingConfig,
    OpenAIConfig,
    RouterConfig,
    Rules,
    ServerConfig,
    TokensConfig,
    UpstreamConfig,
    WebRTCConfig,
)

__all__ = ["basic_credential", "load"]

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


_FREE_TABLES = ("map", "routes", "value")  # value: [turn_detection.value]


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
    "INWORLD_API_URL": ("upstream", "api_url", str),
    "PROXY_HOST": ("server", "host", str),
    "PROXY_PORT": ("server", "port", int),
    "PROXY_LOG_LEVEL": ("logging", "level", str),
    "PROXY_LOG_FORMAT": ("logging", "format", str),
    "PROXY_UVLOOP": ("server", "uvloop", bool),
    "PROXY_NATIVE_LANE": ("server", "native_lane", bool),
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


def _allowed_hosts(srv: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, ...]:
    """`server.allowed_hosts`, plus PROXY_ALLOWED_HOSTS (comma-separated), lower-cased."""
    hosts = checks.str_list(srv, "server", "allowed_hosts")
    hosts += tuple(h.strip() for h in env.get("PROXY_ALLOWED_HOSTS", "").split(",") if h.strip())
    return tuple(dict.fromkeys(h.lower() for h in hosts))


def _clients(raw: Mapping[str, Any], env: Mapping[str, str]) -> ClientsConfig:
    table = raw["clients"]
    keys = checks.str_list(table, "clients", "api_keys")
    keys += tuple(k.strip() for k in env.get("PROXY_API_KEYS", "").split(",") if k.strip())
    allow = checks.get(table, "clients", "allow_unauthenticated", bool)
    if env.get("PROXY_ALLOW_UNAUTHENTICATED", "").lower() in ("1", "true", "yes"):
        allow = True
    per_key = checks.get(table, "clients", "max_sessions_per_key", int)
    return ClientsConfig(
        api_keys=keys,
        allow_unauthenticated=allow,
        allowed_origins=checks.str_list(table, "clients", "allowed_origins"),
        max_sessions_per_key=int(
            checks.positive(per_key, "clients.max_sessions_per_key", zero_ok=True)
        ),
    )


# GA session fields a token may lock (`tokens.locked_fields`): a name, or a dotted path in one.
_LOCKABLE = frozenset(
    {
        "type", "model", "instructions", "audio", "include", "max_output_tokens",
        "output_modalities", "prompt", "tool_choice", "tools", "tracing", "truncation",
    }
)  # fmt: skip
_MIN_TOKEN_SECRET = 32  # bytes of PROXY_TOKEN_SECRET: shorter ones fall to an offline search


def _tokens(raw: Mapping[str, Any], env: Mapping[str, str]) -> TokensConfig:
    table = raw["tokens"]
    max_ttl = checks.get(table, "tokens", "max_ttl", int)
    if not 10 <= max_ttl <= 86400:
        raise ConfigError(f"'tokens.max_ttl' must be between 10 and 86400 seconds, got {max_ttl}")
    locked = checks.str_list(table, "tokens", "locked_fields")
    for name in locked:
        if name.split(".")[0] not in _LOCKABLE or "" in name.split("."):
            raise ConfigError(
                f"'tokens.locked_fields' entries must be GA session fields "
                f"({', '.join(sorted(_LOCKABLE))}) or dotted paths in them, got {name!r}"
            )
    secret = env.get("PROXY_TOKEN_SECRET", "").encode("utf-8", "surrogateescape")
    if secret and len(secret) < _MIN_TOKEN_SECRET:
        raise ConfigError(
            f"PROXY_TOKEN_SECRET must be at least {_MIN_TOKEN_SECRET} bytes (e.g. the output of "
            "`openssl rand -hex 32`); a short one can be recovered from a single token"
        )
    max_sessions = checks.get(table, "tokens", "max_sessions", int)
    return TokensConfig(
        max_ttl=max_ttl,
        signing_secret=secret or None,
        max_sessions=int(checks.positive(max_sessions, "tokens.max_sessions", zero_ok=True)),
        locked_fields=tuple(dict.fromkeys(("model", *locked))),
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
        for v in route.upstreams  # variants, fallback entries and the shadow
    )
    if uses_openai and openai.api_key is None and not openai.forward_client_key:
        raise ConfigError(
            "'routing.routes' use provider 'openai' but OPENAI_API_KEY is not set "
            "(or set 'providers.openai.forward_client_key = true')"
        )
    return routing


def _turn_detection(raw: Mapping[str, Any]) -> TurnDetection:
    try:
        return parse_turn_detection(raw["turn_detection"], "turn_detection")
    except TurnDetectionConfigError as exc:
        raise ConfigError(str(exc)) from None


def _limits(table: Mapping[str, Any]) -> LimitsConfig:
    def seconds(key: str) -> float:
        return checks.positive(
            checks.get(table, "limits", key, float), f"limits.{key}", zero_ok=True
        )

    def count(key: str) -> int:
        return int(checks.positive(checks.get(table, "limits", key, int), f"limits.{key}"))

    def timer(key: str) -> float:  # a timer that may not be switched off
        return checks.positive(checks.get(table, "limits", key, float), f"limits.{key}")

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
        message_timeout=seconds("message_timeout"),
        max_unfinished_bytes_per_session=count("max_unfinished_bytes_per_session"),
        max_unfinished_bytes=count("max_unfinished_bytes"),
        header_timeout=timer("header_timeout"),
        keepalive_timeout=timer("keepalive_timeout"),
        max_header_bytes=count("max_header_bytes"),
        max_pending_connections=count("max_pending_connections"),
        max_pending_per_address=count("max_pending_per_address"),
    )


def _webrtc(table: Mapping[str, Any], env: Mapping[str, str]) -> WebRTCConfig:
    servers = checks.str_list(table, "webrtc", "ice_servers")
    for url in servers:
        if not url.startswith(("stun:", "turn:", "turns:")):
            raise ConfigError("'webrtc.ice_servers' entries must start with stun:, turn: or turns:")
    addresses = checks.str_list(table, "webrtc", "host_addresses")
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError("'webrtc.host_addresses' entries must be IP addresses") from None
    low = checks.port(checks.get(table, "webrtc", "port_min", int), "webrtc.port_min")
    high = checks.port(checks.get(table, "webrtc", "port_max", int), "webrtc.port_max")
    if (low == 0) != (high == 0) or low > high:
        raise ConfigError("'webrtc.port_min' and 'webrtc.port_max' must both be 0, or low <= high")
    batch = checks.get(table, "webrtc", "input_batch_ms", int)
    if not 10 <= batch <= 100:
        raise ConfigError(f"'webrtc.input_batch_ms' must be between 10 and 100, got {batch}")
    return WebRTCConfig(
        ice_servers=servers,
        turn_username=env.get("PROXY_TURN_USERNAME") or None,
        turn_credential=env.get("PROXY_TURN_CREDENTIAL") or None,
        host_addresses=addresses,
        port_min=low,
        port_max=high,
        connect_timeout=checks.positive(
            checks.get(table, "webrtc", "connect_timeout", float), "webrtc.connect_timeout"
        ),
        input_batch_ms=batch,
    )


def _live(table: Mapping[str, Any]) -> LiveApiConfig:
    lead = checks.get(table, "live", "output_lead_ms", int)
    if not 0 <= lead <= 2000:
        raise ConfigError(f"'live.output_lead_ms' must be between 0 and 2000, got {lead}")
    return LiveApiConfig(
        enabled=checks.get(table, "live", "enabled", bool),
        output_lead_ms=lead,
        usage_interval=checks.positive(
            checks.get(table, "live", "usage_interval", float), "live.usage_interval", zero_ok=True
        ),
        client_delegation=checks.get(table, "live", "client_delegation", bool),
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
    clients = _clients(raw, env)
    if openai.forward_client_key and clients.api_keys:
        raise ConfigError(
            "'providers.openai.forward_client_key' cannot be true while client keys are set "
            "(clients.api_keys / PROXY_API_KEYS): it would send the proxy's own client key to "
            "OpenAI; set OPENAI_API_KEY instead"
        )
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
            native_lane=checks.get(srv, "server", "native_lane", bool),
            tls_cert=tls_cert,
            tls_key=tls_key,
            demo_page=checks.get(srv, "server", "demo_page", bool),
            allowed_hosts=_allowed_hosts(srv, env),
        ),
        clients=clients,
        tokens=_tokens(raw, env),
        upstream=UpstreamConfig(
            url=checks.upstream_url(checks.get(up, "upstream", "url", str)),
            connect_timeout=checks.positive(
                checks.get(up, "upstream", "connect_timeout", float), "upstream.connect_timeout"
            ),
            credential=basic_credential(
                env.get("INWORLD_API_KEY") or None, env.get("INWORLD_API_SECRET") or None
            ),
            api_url=checks.http_url(checks.get(up, "upstream", "api_url", str), "upstream.api_url"),
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
            drop_vad_events_without_turn_detection=checks.get(
                tr, "translation", "drop_vad_events_without_turn_detection", bool
            ),
            turn_detection=_turn_detection(raw),
        ),
        logging=LoggingConfig(level=level, format=cast(LogFormat, fmt)),
        limits=_limits(raw["limits"]),
        webrtc=_webrtc(raw["webrtc"], env),
        live=_live(raw["live"]),
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
            **{  # the latency profile: whole milliseconds >= 0
                key: int(
                    checks.positive(
                        checks.get(emu, "emulator", key, int), f"emulator.{key}", zero_ok=True
                    )
                )
                for key in ("first_audio_ms", "jitter_ms", "cancel_ms")
            },
            api_key=env.get("INWORLD_API_KEY") or None,
            api_secret=env.get("INWORLD_API_SECRET") or None,
        ),
    )

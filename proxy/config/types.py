"""The configuration's value types: frozen dataclasses, one per TOML table, and `ConfigError`.

Built and validated by `proxy.config.load` (the only reader of files and the environment);
everything else receives these values and never parses configuration itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from proxy.config.routes import RoutingConfig

__all__ = [
    "ClientsConfig",
    "Config",
    "ConfigError",
    "EmulatorConfig",
    "LimitsConfig",
    "LogFormat",
    "LoggingConfig",
    "OpenAIConfig",
    "RouterConfig",
    "Rules",
    "ServerConfig",
    "TokensConfig",
    "UpstreamConfig",
]

LogFormat = Literal["json", "console", "auto"]


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """The proxy's own listener."""

    host: str
    port: int
    max_message_bytes: int
    uvloop: bool = True
    tls_cert: str | None = None
    tls_key: str | None = None
    demo_page: bool = True


@dataclass(frozen=True, kw_only=True)
class ClientsConfig:
    """Who may use the proxy."""

    api_keys: tuple[str, ...] = field(default=(), repr=False)
    allow_unauthenticated: bool = False
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TokensConfig:
    """Ephemeral client tokens."""

    max_ttl: int = 7200
    signing_secret: bytes | None = field(default=None, repr=False)  # None: random per process


@dataclass(frozen=True, kw_only=True)
class UpstreamConfig:
    """Where and how to reach Inworld.

    `credential` is the value sent after `Basic ` (base64 of `id:secret`), or None when no
    credentials were given (allowed only with the emulator).
    """

    url: str
    connect_timeout: float
    credential: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class LimitsConfig:
    """Robustness limits of every session (`[limits]`); 0 disables a timer."""

    max_sessions: int = 2000
    heartbeat_interval: float = 20.0
    idle_timeout: float = 600.0
    max_session_duration: float = 3600.0
    session_start_timeout: float = 15.0
    max_queued_bytes: int = 4 * 1024 * 1024
    close_timeout: float = 5.0
    shutdown_grace: float = 25.0


@dataclass(frozen=True, kw_only=True)
class Rules:
    """Rewrite rules for `session.update` and server events: data, never code."""

    model_fallback: str
    model_map: Mapping[str, str]
    stt_fallback: str
    stt_map: Mapping[str, str]
    transcription_when_absent: bool
    tts_model: str
    voice_default: str
    voice_map: Mapping[str, str]
    echo_client_names: bool
    drop_session_fields: tuple[str, ...]
    drop_inworld_only_events: bool


@dataclass(frozen=True, kw_only=True)
class LoggingConfig:
    """Log level and rendering."""

    level: str
    format: LogFormat


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """Settings of the built-in Inworld emulator."""

    host: str
    port: int
    ping_interval: float
    response_pace: float
    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class OpenAIConfig:
    """`[providers.openai]`: plain pass-through to OpenAI for `provider = "openai"` variants."""

    url: str = "wss://api.openai.com/v1/realtime"
    rest_url: str = "https://api.openai.com/v1"
    connect_timeout: float = 10.0
    forward_client_key: bool = False
    api_key: str | None = field(default=None, repr=False)  # OPENAI_API_KEY


@dataclass(frozen=True, kw_only=True)
class RouterConfig:
    """`[router]`: REST passthrough to Inworld's OpenAI-compatible Router."""

    enabled: bool = True
    url: str = "https://api.inworld.ai/v1"
    models_url: str = "https://api.inworld.ai/llm/v1alpha/models"
    model_prefix: str = "openai/"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole validated configuration."""

    server: ServerConfig
    upstream: UpstreamConfig
    rules: Rules
    logging: LoggingConfig
    emulator: EmulatorConfig
    clients: ClientsConfig = field(default_factory=ClientsConfig)
    tokens: TokensConfig = field(default_factory=TokensConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    router: RouterConfig = field(default_factory=RouterConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)

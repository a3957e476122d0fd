"""The configuration's value types: frozen dataclasses, one per TOML table, and `ConfigError`.

Built and validated by `proxy.config.load` (the only reader of files and the environment);
everything else receives these values and never parses configuration itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from proxy.config.routes import RoutingConfig
from proxy.config.turn_detection import TurnDetection

__all__ = [
    "ClientsConfig",
    "Config",
    "ConfigError",
    "EmulatorConfig",
    "LimitsConfig",
    "LiveApiConfig",
    "LogFormat",
    "LoggingConfig",
    "OpenAIConfig",
    "RouterConfig",
    "Rules",
    "ServerConfig",
    "TokensConfig",
    "UpstreamConfig",
    "WebRTCConfig",
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
    native_lane: bool = True  # audio through proxy/ws/_lane.c when it was built
    tls_cert: str | None = None
    tls_key: str | None = None
    demo_page: bool = True
    # Host header names accepted besides loopback names, IP literals and `host` (no keys set)
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ClientsConfig:
    """Who may use the proxy."""

    api_keys: tuple[str, ...] = field(default=(), repr=False)
    allow_unauthenticated: bool = False
    allowed_origins: tuple[str, ...] = ()
    max_sessions_per_key: int = 0  # live sessions one client key may hold; 0: no own cap


@dataclass(frozen=True, kw_only=True)
class TokensConfig:
    """Ephemeral client tokens."""

    max_ttl: int = 7200
    signing_secret: bytes | None = field(default=None, repr=False)  # None: random per process
    max_sessions: int = 1  # live sessions one token may hold at once
    locked_fields: tuple[str, ...] = ("model",)  # session fields a token holder may not change


@dataclass(frozen=True, kw_only=True)
class UpstreamConfig:
    """Where and how to reach Inworld.

    `credential` is the value sent after `Basic ` (base64 of `id:secret`), or None when no
    credentials were given (allowed only with the emulator).
    """

    url: str
    connect_timeout: float
    credential: str | None = field(default=None, repr=False)
    api_url: str = "https://api.inworld.ai"  # REST base of the voices API (`voices` command)


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
    message_timeout: float = 60.0  # first byte to last of one message (proxy.ws.budget)
    max_unfinished_bytes_per_session: int = 17 * 1024 * 1024  # unfinished messages held
    max_unfinished_bytes: int = 128 * 1024 * 1024  # the same, all sessions together
    # Before authentication (proxy.web.admission): headers deadline, idle keep-alive, header
    # bytes, and connections not yet authenticated (in all, and per source address).
    header_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    max_header_bytes: int = 32768
    max_pending_connections: int = 256
    max_pending_per_address: int = 32


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
    drop_vad_events_without_turn_detection: bool = True
    turn_detection: TurnDetection = field(default_factory=TurnDetection)


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
    first_audio_ms: int = 0  # latency profile (docs/emulator.md#latency-profile)
    jitter_ms: int = 0
    cancel_ms: int = 0
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
class WebRTCConfig:
    """`[webrtc]`: WebRTC calls (`POST /v1/realtime/calls`, the `webrtc` extra).

    `ice_servers` are `stun:`/`turn:`/`turns:` URLs; the TURN credentials come from the
    environment only. `port_min`/`port_max` (both 0: any port) bound the calls' UDP sockets.
    """

    ice_servers: tuple[str, ...] = ()
    turn_username: str | None = field(default=None, repr=False)  # PROXY_TURN_USERNAME
    turn_credential: str | None = field(default=None, repr=False)  # PROXY_TURN_CREDENTIAL
    host_addresses: tuple[str, ...] = ()
    port_min: int = 0
    port_max: int = 0
    connect_timeout: float = 15.0
    input_batch_ms: int = 20


@dataclass(frozen=True, kw_only=True)
class LiveApiConfig:
    """`[live]`: OpenAI Live clients at `/v1/live/sessions` (docs/live.md)."""

    enabled: bool = True
    output_lead_ms: int = 100  # audio a client may hold beyond the chunk it plays
    usage_interval: float = 15.0  # seconds between session.usage.updated; 0: only at the end
    client_delegation: bool = True  # the hidden delegate tool for client delegation


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
    webrtc: WebRTCConfig = field(default_factory=WebRTCConfig)
    live: LiveApiConfig = field(default_factory=LiveApiConfig)

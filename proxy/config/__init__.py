"""Configuration: TOML defaults + file + environment, validated into frozen dataclasses.

The only reader of files and environment variables. Imports nothing else from `proxy`, and no
asyncio, aiohttp, structlog or prometheus_client (a test follows the imports).

- `loader`: `load(path, env)` and the section parsers (errors name the key);
- `types`: the frozen dataclasses and `ConfigError`; `routes`: `[routing]` (routes, variants,
  the sticky chooser); `turn_detection`: `[turn_detection]`;
- `checks`: cross-field checks; `defaults.toml`: every default, commented (= `config/proxy.toml`).
"""

from proxy.config.loader import basic_credential, load
from proxy.config.types import (
    ClientsConfig,
    Config,
    ConfigError,
    EmulatorConfig,
    LimitsConfig,
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

"""Configuration: TOML defaults + file + environment, validated into frozen dataclasses.

The only reader of files and environment variables. Imports nothing else from `proxy`, and no
asyncio, aiohttp, structlog or prometheus_client (a test follows the imports).

- `loader`: `load(path, env)`, the section parsers and `ConfigError` (errors name the key);
- `types`: the frozen dataclasses; `routes`: `[routing]` (routes, variants, the sticky chooser);
- `checks`: cross-field checks; `defaults.toml`: every default, commented (= `config/proxy.toml`).
"""

from proxy.config.loader import (
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
    basic_credential,
    load,
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

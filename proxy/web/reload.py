"""Configuration reload (SIGHUP): new sessions use the new rules, live sessions keep theirs.

`reload_config(app, path, env)` loads the file again (defaults, file, environment, as at
start). A valid result replaces the *rules* part of the app's `LiveConfig`: `[models]`,
`[transcription]`, `[tts]`, `[voices]`, `[translation]`, `[routing]`, `[providers]`, and
`[router]` but its URLs. A session reads `LiveConfig.config` once when it starts and keeps
that snapshot, so live sessions are untouched. Everything else (listener, TLS, client keys,
tokens, upstream URL and credentials, Router URLs, logging, emulator) needs a restart: those
values stay as they are (they may carry command-line or `--emulator` overrides). An invalid
file is refused with one ERROR line naming the key, and the previous configuration stays.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from proxy.config import Config, ConfigError, load
from proxy.web.appkeys import LIVE_CONFIG, LOGGER, ROUTE_METRICS

__all__ = ["RELOADED_SECTIONS", "install_reload", "reload_config", "reloaded"]

RELOADED_SECTIONS = (
    "models",
    "transcription",
    "tts",
    "voices",
    "translation",
    "routing",
    "providers",
    "router",
)


def reloaded(current: Config, new: Config) -> Config:
    """`current` with the reloadable parts taken from `new` (see the module docstring)."""
    router = dataclasses.replace(
        new.router, url=current.router.url, models_url=current.router.models_url
    )
    return dataclasses.replace(
        current, rules=new.rules, routing=new.routing, openai=new.openai, router=router
    )


def reload_config(app: web.Application, path: Path | None, env: Mapping[str, str]) -> bool:
    """Load `path` again and apply it to new sessions; False (and the old config) if invalid."""
    live, log, metrics = app[LIVE_CONFIG], app[LOGGER], app[ROUTE_METRICS]
    try:
        new = load(path, env)
    except ConfigError as exc:
        metrics.config_reloads.labels("failed").inc()
        log.error(
            "config_reload_failed",
            error=str(exc),
            path=str(path) if path else None,
            generation=live.generation,
        )
        return False
    live.config = reloaded(live.config, new)
    live.generation += 1
    metrics.config_reloads.labels("ok").inc()
    log.info(
        "config_reloaded",
        path=str(path) if path else None,
        generation=live.generation,
        sections=list(RELOADED_SECTIONS),
        routes=sorted(new.routing.routes),
    )
    return True


def install_reload(app: web.Application, path: Path | None, env: Mapping[str, str]) -> None:
    """Reload on SIGHUP (where the platform has it), on the running loop."""
    if not hasattr(signal, "SIGHUP"):
        return
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, reload_config, app, path, env)

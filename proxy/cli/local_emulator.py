"""The built-in emulator on a private loopback port, for `serve --emulator` and
`check --emulator`: fresh credentials, and the configuration pointed at it (the realtime
upstream and the Router endpoints, which the emulator serves too)."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from proxy.config import Config
from proxy.emulator import EMULATOR_PATH, EmulatorSettings, create_emulator_app
from proxy.web.logs import AccessLogger

__all__ = ["emulator_settings", "private_emulator"]


def emulator_settings(cfg: Config) -> EmulatorSettings:
    """The emulator's settings from the proxy configuration (credentials from the env)."""
    emu = cfg.emulator
    return EmulatorSettings(
        api_key=emu.api_key,
        api_secret=emu.api_secret,
        ping_interval=emu.ping_interval,
        response_pace=emu.response_pace,
        first_audio_ms=emu.first_audio_ms,
        jitter_ms=emu.jitter_ms,
        cancel_ms=emu.cancel_ms,
        max_msg_size=cfg.server.max_message_bytes,
    )


@contextlib.asynccontextmanager
async def private_emulator(
    cfg: Config, settings: EmulatorSettings, *, user: str
) -> AsyncIterator[Config]:
    """Run an emulator with `settings` on 127.0.0.1 (a free port) and credentials of its own
    (`user` and a random secret); yield `cfg` with its upstream and Router pointed at it. The
    emulator stops when the block exits."""
    secret = secrets.token_urlsafe(18)
    app = create_emulator_app(dataclasses.replace(settings, api_key=user, api_secret=secret))
    runner = web.AppRunner(
        app, access_log=logging.getLogger("aiohttp.access"), access_log_class=AccessLogger
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"127.0.0.1:{int(runner.addresses[0][1])}"
        yield dataclasses.replace(
            cfg,
            upstream=dataclasses.replace(
                cfg.upstream,
                url=f"ws://{base}{EMULATOR_PATH}",
                credential=base64.b64encode(f"{user}:{secret}".encode()).decode(),
            ),
            router=dataclasses.replace(
                cfg.router, url=f"http://{base}/v1", models_url=f"http://{base}/llm/v1alpha/models"
            ),
        )
    finally:
        await runner.cleanup()

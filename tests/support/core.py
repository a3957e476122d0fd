"""Small helpers shared by tests: command decoding and config building."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from proxy.config import Config, load
from proxy.core.commands import CloseClient, Command, Forward, ToClient, ToUpstream


def config(env: dict[str, str] | None = None) -> Config:
    """The built-in default configuration (no file), with `env` applied."""
    return load(None, env or {})


def decoded(
    commands: Sequence[Command], frame: str | bytes | None = None, towards: str | None = None
) -> list[tuple[str, Any]]:
    """Commands as (direction, parsed event) pairs, for readable assertions. A `Forward`
    is the handled `frame` itself, going `towards` ("client" or "upstream")."""
    out: list[tuple[str, Any]] = []
    for command in commands:
        match command:
            case Forward():
                assert frame is not None, "a Forward needs the frame"
                assert towards is not None, "a Forward needs its direction"
                out.append((towards, orjson.loads(frame)))
            case ToClient(text):
                out.append(("client", orjson.loads(text)))
            case ToUpstream(text):
                out.append(("upstream", orjson.loads(text)))
            case CloseClient(code, reason):
                out.append(("close", (code, reason)))
    return out


def dumps(event: dict[str, Any]) -> str:
    """An event as the text of a frame."""
    return orjson.dumps(event).decode()


# Inworld's answers to the proxy's start-up, as the core's tests feed them.
CREATED = {"type": "session.created", "event_id": "u1", "session": {"model": "google/x"}}


UPDATED = {
    "type": "session.updated",
    "event_id": "u2",
    "session": {
        "type": "realtime",
        "model": "openai/gpt-5.5",
        "audio": {"output": {"voice": "Ashley", "model": "inworld-tts-2"}},
    },
}

"""The Live server events the proxy writes, and the commands the Live core gives its relay.

Every builder returns the event's JSON text as bytes, shaped as the openai SDK's Live types
(`openai.types.live.*`, the authority where docs/protocol-notes.md#openai-live-events is
silent): each event gets a fresh `event_id`, and `client_event_id` is set only when the
client's command carried an `event_id`. Nothing here keeps state.

The commands extend `proxy.core.commands` for the Live relay (`proxy.session.live_relay`):
`Dial` (open Inworld for this model), `Play` (a frame for the output pacer, released at a clock
time), `FlushOutput` (drop what the pacer still holds: a barge-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from proxy.core.commands import CloseClient, ToClient, ToUpstream
from proxy.core.error_events import LIMIT_ERRORS, new_event_id

__all__ = [
    "LIVE_CLOSE_REASONS",
    "Dial",
    "FlushOutput",
    "LiveCommand",
    "Play",
    "appended",
    "delegation_created",
    "live_error",
    "live_limit_error",
    "response_event",
    "session_closed",
    "session_event",
    "simple_event",
    "transcript_delta",
    "usage_updated",
]

# `session.closed.reason` values (openai/types/live/session_closed_event.py)
LIVE_CLOSE_REASONS = frozenset(
    {"close_requested", "expired", "content", "remote_hangup", "connection_lost"}
)


@dataclass(frozen=True, slots=True)
class Dial:
    """Open the Inworld session for the Live model `model` (after the client's
    `session.start`); then call `LiveTranslator.opened()` with the winning rules."""

    model: str


@dataclass(frozen=True, slots=True)
class Play:
    """Hand `frame` (a Live server event) to the output pacer, to be sent at clock time `at`
    (seconds, the translator's clock; now or earlier: at once), after every frame before it."""

    frame: bytes
    at: float


@dataclass(frozen=True, slots=True)
class FlushOutput:
    """Drop every frame the pacer still holds (the user spoke over the reply)."""


LiveCommand = ToClient | ToUpstream | CloseClient | Dial | Play | FlushOutput


def _dump(event: dict[str, Any], client_event_id: Any = None) -> bytes:
    if isinstance(client_event_id, str):
        event["client_event_id"] = client_event_id
    return orjson.dumps(event)


def live_error(
    message: str,
    *,
    code: str,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    client_event_id: Any = None,
) -> bytes:
    """A Live `error` event (`openai/types/live/error_event.py`): `error.code`, `message`,
    `type`, and `param` / `client_event_id` when known. `message` never holds a secret."""
    error: dict[str, Any] = {"code": code, "message": message, "type": error_type}
    if param is not None:
        error["param"] = param
    if isinstance(client_event_id, str):
        error["client_event_id"] = client_event_id
    return _dump({"type": "error", "event_id": new_event_id(), "error": error}, client_event_id)


def live_limit_error(code: str, provider: str = "Inworld") -> bytes:
    """One of the proxy's own limit errors (`LIMIT_ERRORS`), as a Live `error` event."""
    error_type, message = LIMIT_ERRORS[code]
    return live_error(message.format(provider=provider), code=code, error_type=error_type)


def session_event(kind: str, resource: dict[str, Any], client_event_id: Any = None) -> bytes:
    """`session.started` or `session.updated` with the session resource."""
    event = {"type": kind, "event_id": new_event_id(), "session": resource}
    return _dump(event, client_event_id)


def usage_updated(seconds: int) -> bytes:
    """`session.usage.updated`: cumulative whole seconds of the session."""
    return _dump(
        {"type": "session.usage.updated", "event_id": new_event_id(), "usage": {"seconds": seconds}}
    )


def session_closed(
    reason: str, resource: dict[str, Any], seconds: int, client_event_id: Any = None
) -> bytes:
    """The terminal `session.closed`, with the final resource and cumulative usage."""
    assert reason in LIVE_CLOSE_REASONS
    event = {
        "type": "session.closed",
        "event_id": new_event_id(),
        "reason": reason,
        "session": resource,
        "usage": {"seconds": seconds},
    }
    return _dump(event, client_event_id)


def simple_event(kind: str, client_event_id: Any = None) -> bytes:
    """An acknowledgement without fields (`session.input_audio.muted` / `.unmuted`)."""
    return _dump({"type": kind, "event_id": new_event_id()}, client_event_id)


def appended(kind: str, start_ms: int, end_ms: int, client_event_id: Any = None) -> bytes:
    """`session.{instructions,thinking,commentary}.appended` at a timeline position."""
    event = {"type": kind, "event_id": new_event_id(), "start_ms": start_ms, "end_ms": end_ms}
    return _dump(event, client_event_id)


def transcript_delta(kind: str, delta: str, start_ms: int, end_ms: int) -> bytes:
    """`session.input_transcript.delta` or `session.output_transcript.delta`."""
    return _dump(
        {
            "type": kind,
            "event_id": new_event_id(),
            "delta": delta,
            "start_ms": start_ms,
            "end_ms": max(end_ms, start_ms),
        }
    )


def delegation_created(
    delegation_id: str, target: str, offset_ms: int, response_id: str | None = None
) -> bytes:
    """`session.delegation.created`: metadata only, never the task text."""
    delegation: dict[str, Any] = {"id": delegation_id, "type": "delegation", "target": target}
    if response_id is not None:
        delegation["response_id"] = response_id
    return _dump(
        {
            "type": "session.delegation.created",
            "event_id": new_event_id(),
            "delegation": delegation,
            "offset_ms": offset_ms,
        }
    )


def response_event(delegation_id: str | None, event: dict[str, Any]) -> bytes:
    """A `response.event` envelope around one Responses streaming event."""
    return _dump(
        {
            "type": "response.event",
            "event_id": new_event_id(),
            "delegation_id": delegation_id,
            "event": event,
        }
    )

"""OpenAI-shaped `error` events and WebSocket close-code mapping (pure).

Error shape: `docs/protocol-notes.md#openai-errors`. Close codes: `#openai-close-codes` and
`#websocket-protocol` there.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

__all__ = [
    "LIMIT_ERRORS",
    "client_close_code",
    "error_event",
    "error_text",
    "limit_error",
    "new_event_id",
    "upstream_refusal",
]

# Codes RFC 6455 forbids in a Close frame; they only describe what a peer observed.
_UNSENDABLE = {1004, 1005, 1006, 1015}


def new_event_id() -> str:
    """A fresh id for an event the proxy itself creates (OpenAI's `event_...` style)."""
    return f"event_{uuid.uuid4().hex[:24]}"


def error_event(
    message: str,
    *,
    error_type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    event_id: Any = None,
) -> dict[str, Any]:
    """Build an OpenAI Realtime `error` event.

    Args:
        message: human-readable text; must never contain a credential.
        event_id: the offending client event's `event_id` (None when it had none).
    """
    return {
        "type": "error",
        "event_id": new_event_id(),
        "error": {
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id if isinstance(event_id, str) else None,
        },
    }


def error_text(message: str, **kwargs: Any) -> str:
    """`error_event(...)` serialised, ready for a TEXT frame."""
    return orjson.dumps(error_event(message, **kwargs)).decode()


# Where each provider's credentials come from, for the 401/403 hint.
_CREDENTIALS = {"Inworld": "INWORLD_API_KEY / INWORLD_API_SECRET", "OpenAI": "OPENAI_API_KEY"}


def upstream_refusal(
    status: int | None, detail: str, provider: str = "Inworld"
) -> tuple[dict[str, Any], int, str]:
    """Map a failed upstream handshake to (error event, close code, close reason).

    401/403 close with 1008 (policy), 429 with 1013 (try again later), anything else, including
    a timeout or refused TCP connection (`status` None), with 1011. `provider` ("Inworld" or
    "OpenAI") is the upstream that failed; the message names it.
    """
    where = f"HTTP {status}" if status is not None else detail
    if status in (401, 403):
        event = error_event(
            f"{provider} refused the proxy's credentials ({where}); "
            f"check {_CREDENTIALS.get(provider, 'the provider credentials')}",
            code="upstream_unauthorized",
        )
        return event, 1008, "upstream refused credentials"
    if status == 429:
        event = error_event(
            f"{provider} is rate limiting new sessions ({where}); retry shortly",
            error_type="rate_limit_exceeded",
            code="upstream_rate_limited",
        )
        return event, 1013, "upstream rate limited"
    event = error_event(
        f"Could not open the {provider} realtime session ({where})",
        error_type="server_error",
        code="upstream_unavailable",
    )
    return event, 1011, "upstream unavailable"


def client_close_code(code: int | None) -> int:
    """The code to send one peer when the other closed with `code`.

    Codes a Close frame may carry pass unchanged; "no status" (1005, or None) becomes 1000;
    an abnormal end (1006, 1015, unknown) becomes 1011 so the peer knows it was not clean.
    """
    if code is None or code == 1005:
        return 1000
    if code in _UNSENDABLE or not (1000 <= code <= 4999) or 1016 <= code < 3000:
        return 1011
    return code


# Errors the proxy's own limits and watchdogs raise: code -> (error type, message). The client
# gets `error_text(message, error_type=type, code=code)` before the session is closed;
# `{provider}` in a message is the session's upstream ("Inworld" or "OpenAI").
LIMIT_ERRORS: dict[str, tuple[str, str]] = {
    "session_limit": (
        "rate_limit_exceeded",
        "The proxy is serving its maximum number of sessions (limits.max_sessions); retry shortly.",
    ),
    "token_session_limit": (
        "rate_limit_exceeded",
        "This ephemeral token already has its maximum number of open sessions "
        "(tokens.max_sessions); close one or mint a new token.",
    ),
    "key_session_limit": (
        "rate_limit_exceeded",
        "This API key already has its maximum number of open sessions "
        "(clients.max_sessions_per_key); retry when one has ended.",
    ),
    "message_too_big": (
        "invalid_request_error",
        "The message is larger than the proxy accepts (server.max_message_bytes).",
    ),
    "upstream_message_too_big": (
        "server_error",
        "{provider} sent a message larger than the proxy accepts (server.max_message_bytes).",
    ),
    "slow_reader": (
        "server_error",
        "Too many bytes are waiting to be delivered (limits.max_queued_bytes); the reader is "
        "too slow.",
    ),
    "idle_timeout": (
        "invalid_request_error",
        "No message from either side within limits.idle_timeout; the session is closed.",
    ),
    "session_expired": (
        "invalid_request_error",
        "The session reached its maximum duration (limits.max_session_duration).",
    ),
    "upstream_timeout": (
        "server_error",
        "{provider} did not start the session within limits.session_start_timeout.",
    ),
    "upstream_connection_lost": (
        "server_error",
        "The connection to {provider} was lost.",
    ),
    "message_timeout": (
        "invalid_request_error",
        "A message was not finished within limits.message_timeout seconds of its first byte.",
    ),
    "upstream_message_timeout": (
        "server_error",
        "{provider} did not finish a message within limits.message_timeout seconds.",
    ),
    "message_buffers_full": (
        "rate_limit_exceeded",
        "The proxy cannot hold another unfinished message now (limits.max_unfinished_bytes, "
        "limits.max_unfinished_bytes_per_session); try again later.",
    ),
}


def limit_error(code: str, provider: str = "Inworld") -> str:
    """The serialised `error` event for one of the proxy's own limits (`LIMIT_ERRORS`);
    `provider` names the session's upstream in messages about it."""
    error_type, message = LIMIT_ERRORS[code]
    return error_text(message.format(provider=provider), error_type=error_type, code=code)

"""Fields an ephemeral token fixes for its session (`tokens.locked_fields`): the check (pure).

A session opened with a token keeps the session config minted into it for every field in the
locked list (the model always): a `session.update` whose `session`, or a `response.create`
whose `response`, sets a locked field to anything but the pinned value is refused with an
`error` event naming the field (`param`), and does not reach the upstream. Setting a field to
the value it already has is not a change (SDKs resend whole sessions). A field the token left
unset is pinned as unset: setting it at all is a change.

OpenAI lets a connection override its client secret's session config; this is where the proxy
differs (docs/clients.md#ephemeral-tokens).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from proxy.core.error_events import error_text

__all__ = ["LOCKED_CODE", "locked_change", "locked_refusal"]

LOCKED_CODE = "locked_field"
_MISSING = object()


def _lookup(value: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def locked_change(
    pinned: Mapping[str, Any] | None, given: Any, fields: Iterable[str]
) -> str | None:
    """The first of `fields` (dotted paths) that `given` sets to a value other than in
    `pinned`, or None. `given` that is not an object changes nothing."""
    if not isinstance(given, dict):
        return None
    for name in fields:
        path = name.split(".")
        value = _lookup(given, path)
        if value is not _MISSING and value != _lookup(pinned or {}, path):
            return name
    return None


def locked_refusal(
    pinned: Mapping[str, Any] | None, fields: Iterable[str], event: Mapping[str, Any]
) -> bytes | None:
    """The `error` event (UTF-8 JSON) refusing a GA client `event` that changes a locked field,
    or None if it changes none (or is not a `session.update` / `response.create`)."""
    kind = event.get("type")
    where = {"session.update": "session", "response.create": "response"}.get(str(kind))
    if where is None:
        return None
    field = locked_change(pinned, event.get(where), fields)
    if field is None:
        return None
    message = (
        f"This session was opened with an ephemeral token, which fixes session.{field}; "
        "it cannot be changed (tokens.locked_fields)."
    )
    event_id = event.get("event_id")
    return error_text(
        message, code=LOCKED_CODE, param=f"{where}.{field}", event_id=event_id
    ).encode()

"""Type checks for `session.update` fields the rewrite rules do not read (pure, data-driven).

OpenAI answers a wrongly typed session field with `invalid_request_error` / `invalid_type`
naming the field, and applies nothing of that update (`docs/protocol-notes.md#openai-errors`);
the proxy does the same before anything goes to Inworld, so a client sees OpenAI's behaviour
rather than whatever Inworld makes of it. Only fields whose type is the same in the GA and beta
dialects are checked; unknown fields pass untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxy.core.rewrite import SessionFieldError

__all__ = ["SESSION_FIELD_TYPES", "check_session_types"]

_NUMBER = (int, float)
_NONE = type(None)

# Dotted path inside `session` -> (accepted Python types, what to call them in the message).
SESSION_FIELD_TYPES: Mapping[str, tuple[tuple[type, ...], str]] = {
    "type": ((str,), "a string"),
    "instructions": ((str,), "a string"),
    "output_modalities": ((list,), "an array"),
    "modalities": ((list,), "an array"),
    "tools": ((list,), "an array"),
    "tool_choice": ((str, dict), "a string or an object"),
    "max_output_tokens": ((int, str), "an integer or 'inf'"),
    "max_response_output_tokens": ((int, str), "an integer or 'inf'"),
    "temperature": (_NUMBER, "a number"),
    "include": ((list, _NONE), "an array or null"),
    "truncation": ((str, dict), "a string or an object"),
    "prompt": ((dict, _NONE), "an object or null"),
    "tracing": ((str, dict, _NONE), "a string, an object or null"),
    "turn_detection": ((dict, _NONE), "an object or null"),
    "audio.input.turn_detection": ((dict, _NONE), "an object or null"),
    "audio.input.noise_reduction": ((dict, _NONE), "an object or null"),
    "audio.output.speed": (_NUMBER, "a number"),
}


def _lookup(session: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = session
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def check_session_types(session: Any, param: str = "session") -> None:
    """Raise `SessionFieldError` for the first field of `SESSION_FIELD_TYPES` with a wrong type.

    A `session` that is not an object is left to `rewrite_session`, which refuses it.
    """
    if not isinstance(session, Mapping):
        return
    for path, (types, expected) in SESSION_FIELD_TYPES.items():
        present, value = _lookup(session, path)
        if not present:
            continue
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise SessionFieldError(f"{param}.{path}", f"'{param}.{path}' must be {expected}")

"""`[turn_detection]`: how the proxy retunes `session.audio.input.turn_detection` (pure data).

`mode` says what happens to the turn detection a client sends on its way to Inworld:
``client`` (passed as sent), ``override`` (the configured `value` replaces the client's
detector), ``defaults`` (the configured `value` fills only the fields the client did not set).
The same table may appear per route (`[routing.routes.X] turn_detection = {...}`). Applying it
is `proxy.core.turn_detection`'s job; this module only validates.

Field names and values follow OpenAI's GA `turn_detection` object, which Inworld takes
(docs/protocol-notes.md, "Turn detection").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "COMMON_FIELDS",
    "DETECTOR_FIELDS",
    "MODES",
    "TurnDetection",
    "TurnDetectionConfigError",
    "TurnDetectionMode",
    "parse_turn_detection",
]

TurnDetectionMode = Literal["client", "override", "defaults"]
MODES: tuple[TurnDetectionMode, ...] = ("client", "override", "defaults")

# The fields each detector takes, besides `type` and COMMON_FIELDS.
DETECTOR_FIELDS: Mapping[str, frozenset[str]] = {
    "server_vad": frozenset(
        {"threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"}
    ),
    "semantic_vad": frozenset({"eagerness"}),
}
# How the application runs its turns, not how speech is detected: a client's own value wins.
COMMON_FIELDS: frozenset[str] = frozenset({"create_response", "interrupt_response"})
_EAGERNESS = ("low", "medium", "high", "auto")
_MS_FIELDS = ("prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms")


class TurnDetectionConfigError(ValueError):
    """A `turn_detection` value is invalid; the message names the key."""


@dataclass(frozen=True, kw_only=True)
class TurnDetection:
    """The validated `[turn_detection]` table (or a route's `turn_detection`).

    `value` is a GA `turn_detection` object (`type`, detector fields, `create_response`,
    `interrupt_response`); it is never modified.
    """

    mode: TurnDetectionMode = "client"
    value: Mapping[str, Any] = field(default_factory=dict)


def parse_turn_detection(raw: Any, where: str) -> TurnDetection:
    """Validate a raw `turn_detection` table found at `where` (e.g. ``turn_detection``).

    Raises:
        TurnDetectionConfigError: an unknown key, a wrong type or value, a field the detector
            does not take, `override` without `value.type`, or `defaults` without `value`.
    """
    if not isinstance(raw, Mapping):
        raise TurnDetectionConfigError(f"'{where}' must be a table")
    unknown = set(raw) - {"mode", "value"}
    if unknown:
        raise TurnDetectionConfigError(f"unknown configuration key '{where}.{sorted(unknown)[0]}'")
    mode = raw.get("mode", "client")
    if mode not in MODES:
        raise TurnDetectionConfigError(
            f"'{where}.mode' must be client, override or defaults, got {mode!r}"
        )
    value = _value(raw.get("value", {}), f"{where}.value")
    if mode == "override" and "type" not in value:
        raise TurnDetectionConfigError(
            f"'{where}.value.type' must be set for mode \"override\" (server_vad or semantic_vad)"
        )
    if mode == "defaults" and not value:
        raise TurnDetectionConfigError(f"'{where}.value' must not be empty for mode \"defaults\"")
    return TurnDetection(mode=mode, value=value)


def _value(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise TurnDetectionConfigError(f"'{where}' must be a table")
    known = {"type"} | COMMON_FIELDS | set().union(*DETECTOR_FIELDS.values())
    unknown = set(raw) - known
    if unknown:
        raise TurnDetectionConfigError(f"unknown configuration key '{where}.{sorted(unknown)[0]}'")
    kind = raw.get("type")
    if kind is not None and kind not in DETECTOR_FIELDS:
        raise TurnDetectionConfigError(
            f"'{where}.type' must be server_vad or semantic_vad, got {kind!r}"
        )
    for key in raw:
        if key in ("type", *COMMON_FIELDS):
            pass
        elif kind is None:  # detector fields only make sense with their detector
            raise TurnDetectionConfigError(f"'{where}.{key}' needs '{where}.type'")
        elif key not in DETECTOR_FIELDS[kind]:
            raise TurnDetectionConfigError(f"'{where}.{key}' does not apply to type {kind!r}")
        _check_field(key, raw[key], f"{where}.{key}")
    return dict(raw)


def _check_field(key: str, value: Any, name: str) -> None:
    if key in COMMON_FIELDS and not isinstance(value, bool):
        raise TurnDetectionConfigError(f"'{name}' must be true or false, got {value!r}")
    if key == "eagerness" and value not in _EAGERNESS:
        raise TurnDetectionConfigError(
            f"'{name}' must be one of {', '.join(_EAGERNESS)}, got {value!r}"
        )
    if key == "threshold" and (
        isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
    ):
        raise TurnDetectionConfigError(f"'{name}' must be a number from 0 to 1, got {value!r}")
    if key in _MS_FIELDS and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise TurnDetectionConfigError(f"'{name}' must be an integer >= 0, got {value!r}")

"""Turn-detection retuning: the `turn_detection` object Inworld gets, per `[turn_detection]`.

Pure functions over plain values (inputs never mutated), used by `proxy.core.rewrite` for the
proxy's own first `session.update` and for every client `session.update` (after the beta
dialect is turned into GA, so only `session.audio.input.turn_detection` is seen here).

Modes (`proxy.config.turn_detection.TurnDetection`):

- ``client``: the client's value passes unchanged, and the first update sets nothing;
- ``override``: the configured `value` replaces the client's detector (its `type` and tuning
  fields); the first update sets `value`;
- ``defaults``: the configured `value` fills the fields the client did not set, but only the
  fields that apply to the resulting detector `type`; the first update sets `value`.

In every mode a client's `null` (turn detection off, push-to-talk) is kept, and so are the
`create_response` / `interrupt_response` a client sets: they are how the application runs its
turns (a transcription-only session sets both to false), not how speech is detected.
See docs/translation.md, "Turn detection".
"""

from __future__ import annotations

import dataclasses
from typing import Any

from proxy.config import Rules
from proxy.config.routes import Route
from proxy.config.turn_detection import COMMON_FIELDS, DETECTOR_FIELDS, TurnDetection

__all__ = ["initial_turn_detection", "retune", "rules_for_route"]


def rules_for_route(rules: Rules, route: Route | None) -> Rules:
    """`rules` with the route's own `turn_detection` in place of the global one, if it has one."""
    if route is None or route.turn_detection is None:
        return rules
    return dataclasses.replace(rules, turn_detection=route.turn_detection)


def initial_turn_detection(turns: TurnDetection) -> dict[str, Any] | None:
    """What the proxy's first `session.update` sets as `audio.input.turn_detection`: the
    configured value for ``override`` and ``defaults``, nothing (None) for ``client``."""
    if turns.mode == "client":
        return None
    return dict(turns.value)


def retune(turns: TurnDetection, client: Any) -> Any:
    """The `turn_detection` to send to Inworld for the value a client sent (see the module
    docstring). Returns `client` itself when nothing changes; anything but an object (`null`,
    or a wrong type the validator reports) is returned as it is."""
    if turns.mode == "client" or not isinstance(client, dict):
        return client
    if turns.mode == "override":
        kept = {key: client[key] for key in COMMON_FIELDS if key in client}
        out = {**turns.value, **kept}
    else:
        kind = client.get("type", turns.value.get("type"))
        detector = DETECTOR_FIELDS.get(kind, frozenset()) if isinstance(kind, str) else frozenset()
        applies = {"type"} | COMMON_FIELDS | detector
        filled = {k: v for k, v in turns.value.items() if k not in client and k in applies}
        if not filled:
            return client
        out = {**client, **filled}
    return client if out == client else out

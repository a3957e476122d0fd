"""`inworld-realtime-proxy translate FILE`: the Inworld `session.update` for an OpenAI one.

Runs the same `Translator` a session runs (`start()`, then `from_client()` with the file's
event), so what it prints is what the proxy would send. FILE (or `-` for stdin) holds an OpenAI
`session.update` or `transcription_session.update` event, or just its `session` object. The
dialect is detected from the shape (a `transcription_session.update`, or a session without
`type` and without a nested `audio` object, is beta), unless `--beta` / `--ga` say otherwise.
When the model has a route, the variant is the one the caller `--key` would get.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from proxy.config import Config
from proxy.config.routes import choose, find_route
from proxy.core.commands import ToClient, ToUpstream
from proxy.core.dialect import Dialect, is_ga_session
from proxy.core.translate import Translator
from proxy.core.turn_detection import rules_for_route
from proxy.session.route import variant_rules

__all__ = ["TranslateResult", "translate_update"]


@dataclass(frozen=True, slots=True)
class TranslateResult:
    """What to print: `output` on stdout, `notes` on stderr, and the exit status."""

    status: int
    output: str = ""
    notes: tuple[str, ...] = ()


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _event(parsed: Any) -> dict[str, Any] | None:
    if not isinstance(parsed, dict):
        return None
    if parsed.get("type") in ("session.update", "transcription_session.update"):
        return parsed
    if "type" in parsed and parsed["type"] not in ("realtime", "transcription"):
        return None  # some other event
    return {"type": "session.update", "session": parsed}  # a bare session object


def translate_update(
    text: str,
    cfg: Config,
    *,
    dialect: Dialect | None = None,
    model: str | None = None,
    key: str = "",
    initial: bool = False,
) -> TranslateResult:
    """Translate one OpenAI session update (see the module docstring).

    Args:
        text: the file's content.
        cfg: the configuration (rules and routes).
        dialect: force `ga` or `beta`; None detects it from the shape.
        model: the `?model=` the client would connect with.
        key: the caller's sticky key, for routed models.
        initial: also show the proxy's own initial `session.update` (output is then a list).
    """
    try:
        event = _event(orjson.loads(text))
    except orjson.JSONDecodeError as exc:
        return TranslateResult(1, notes=(f"not valid JSON: {exc}",))
    if event is None:
        return TranslateResult(1, notes=("expected a session.update event or a session object",))
    session = event.get("session")
    if dialect is None:
        beta = event["type"] == "transcription_session.update" or not is_ga_session(session)
        dialect = "beta" if beta else "ga"
    name = model or (session.get("model") if isinstance(session, dict) else None)
    rules, notes = cfg.rules, [f"dialect: {dialect}"]
    route = find_route(cfg.routing, name if isinstance(name, str) else None)
    if route is not None:
        variant = choose(route, key, cfg.routing.salt)
        notes.append(f"route {route.name}: variant {variant.name} ({variant.provider})")
        if variant.provider == "openai":
            notes.append("provider openai: the update is passed through unchanged")
            return TranslateResult(0, _pretty(event), tuple(notes))
        rules = variant_rules(
            rules_for_route(cfg.rules, route), name if isinstance(name, str) else None, variant
        )
    if rules.turn_detection.mode != "client":  # [turn_detection], or the route's own
        own = route is not None and route.turn_detection is not None
        where = f"routing.routes.{route.name}" if own and route else "[turn_detection]"
        notes.append(f"turn_detection: mode {rules.turn_detection.mode} ({where})")
    translator = Translator(rules, url_model=model, dialect=dialect)
    first = [orjson.loads(c.text) for c in translator.start() if isinstance(c, ToUpstream)]
    sent: list[Any] = []
    for command in translator.from_client(orjson.dumps(event).decode()):
        if isinstance(command, ToClient):  # refused, as a client would be told
            return TranslateResult(1, _pretty(orjson.loads(command.text)), tuple(notes))
        if isinstance(command, ToUpstream):
            sent.append(orjson.loads(command.text))
    out: Any = [*first, *sent] if initial else (sent[0] if len(sent) == 1 else sent)
    return TranslateResult(0, _pretty(out), tuple(notes))

"""What `check` asks Inworld about: one `Item` per distinct configured id (pure).

Each item is one LLM, STT model, TTS model, voice or turn-detection object, with every
configuration key that names it (`sources`, in dotted form such as `models.map.gpt-realtime`),
the `session.update` payload that sets only it, and how to read it back from Inworld's
`session.updated`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from proxy.config import Config
from proxy.core.rewrite import map_voice

__all__ = ["Item", "applied", "config_items", "describe"]

Kind = Literal["model", "stt", "tts", "voice", "turn_detection"]
_PATHS: dict[str, tuple[str, ...]] = {
    "model": ("model",),
    "stt": ("audio", "input", "transcription", "model"),
    "tts": ("audio", "output", "model"),
    "voice": ("audio", "output", "voice"),
    "turn_detection": ("audio", "input", "turn_detection"),
}


@dataclass(slots=True)
class Item:
    """One id to check and the configuration keys that use it."""

    kind: Kind
    value: Any
    sources: list[str] = field(default_factory=list)

    def patch(self) -> dict[str, Any]:
        """The `session` of a `session.update` that sets only this item."""
        *parents, leaf = _PATHS[self.kind]
        node: dict[str, Any] = {leaf: self.value}
        for key in reversed(parents):
            node = {key: node}
        return {"type": "realtime", **node}


def _key(name: str) -> str:
    """A map key as a dotted path segment (quoted when it is not a bare TOML key)."""
    bare = name.replace("-", "").replace("_", "").isalnum()
    return name if bare else orjson.dumps(name).decode()


def config_items(cfg: Config) -> list[Item]:
    """Every distinct id the configuration would send to Inworld, in configuration order."""
    items: dict[tuple[str, str], Item] = {}

    def add(kind: Kind, value: Any, source: str) -> None:
        key = (kind, orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())
        items.setdefault(key, Item(kind, value)).sources.append(source)

    rules = cfg.rules
    add("model", rules.model_fallback, "models.fallback")
    for name, target in rules.model_map.items():
        add("model", target, f"models.map.{_key(name)}")
    for name, route in cfg.routing.routes.items():
        where = f"routing.routes.{_key(name)}"
        for label, group in (("variants", route.variants), ("fallback", route.fallback)):
            for i, variant in enumerate(group):
                if variant.provider == "inworld":
                    add("model", variant.model, f"{where}.{label}[{i}]")
    add("stt", rules.stt_fallback, "transcription.fallback")
    for name, target in rules.stt_map.items():
        add("stt", target, f"transcription.map.{_key(name)}")
    add("tts", rules.tts_model, "tts.model")
    add("voice", map_voice(rules, rules.voice_default, "voices.default")[0], "voices.default")
    for name, target in rules.voice_map.items():
        add("voice", target, f"voices.map.{_key(name)}")
    if rules.turn_detection.mode != "client":
        add("turn_detection", dict(rules.turn_detection.value), "turn_detection")
    for name, route in cfg.routing.routes.items():
        turns = route.turn_detection
        if turns is not None and turns.mode != "client":
            add("turn_detection", dict(turns.value), f"routing.routes.{_key(name)}.turn_detection")
    return list(items.values())


def describe(item: Item) -> str:
    """``model openai/gpt-5.5 (models.fallback; models.map: gpt-realtime, gpt-realtime-2)``:
    the kind, the id, and the configuration keys that name it (map entries grouped)."""
    value = item.value if isinstance(item.value, str) else orjson.dumps(item.value).decode()
    groups: dict[str, list[str]] = {}
    for source in item.sources:
        table, sep, entry = source.partition(".map.")
        if sep:
            groups.setdefault(f"{table}.map", []).append(entry)
        else:
            groups.setdefault(source, [])
    parts = [f"{key}: {', '.join(entries)}" if entries else key for key, entries in groups.items()]
    return f"{item.kind} {value} ({'; '.join(parts)})"


def applied(item: Item, session: Any) -> str | None:
    """None when Inworld's `session` shows the item as set, else what it shows instead
    (JSON). A turn-detection object counts as set when each of its fields is."""
    node: Any = session
    for key in _PATHS[item.kind]:
        node = node.get(key) if isinstance(node, dict) else None
    if item.kind == "turn_detection" and isinstance(node, dict):
        if all(node.get(k) == v for k, v in item.value.items()):
            return None
    elif node == item.value:
        return None
    return orjson.dumps(node).decode()

"""The emulated session configuration: defaults, validation and the ``session.update`` merge.

Implements docs/protocol-notes.md#inworld-session-update (partial updates merge; all-or-nothing
on any invalid value; field layout), ``#inworld-model-ids`` there (id validation via
``catalog``) and docs/emulator.md#session-configuration (defaults). ``#name`` below is a
section of docs/protocol-notes.md.
"""

import copy
from collections.abc import Callable, Mapping
from typing import Any

from .catalog import is_known_stt, is_known_tts, is_known_voice, is_routable_llm
from .errors import RequestError
from .ids import Event
from .settings import EmulatorSettings

__all__ = [
    "KNOWN_SESSION_FIELDS",
    "SessionUpdateError",
    "deep_merge",
    "default_session",
    "merge_update",
]

# Top-level fields the emulated service decodes (#inworld-session-update plus the prototype's
# `session.created` template). Anything else, including snake_case `provider_data`
# (#inworld-session-update) and beta-era flat fields, is ignored and
# dropped, mirroring Inworld's Go server which decodes into a fixed struct.
KNOWN_SESSION_FIELDS: frozenset[str] = frozenset(
    {
        "type",
        "model",
        "instructions",
        "output_modalities",
        "temperature",
        "max_output_tokens",
        "audio",
        "tools",
        "tool_choice",
        "providerData",
        "truncation",
        "prompt",
        "tracing",
        "include",
    }
)

_PCM24K: Event = {"type": "audio/pcm", "rate": 24000}
_TURN_TYPES = ("server_vad", "semantic_vad")


class SessionUpdateError(RequestError):
    """A ``session.update`` carried an invalid value; nothing of it may be applied
    (``#inworld-session-update``)."""

    def __init__(self, message: str, *, param: str, code: str = "invalid_value") -> None:
        """Record the error ``code`` and the dotted ``param`` path (``session.model``...)."""
        super().__init__(message, code=code, param=param)


def default_session(settings: EmulatorSettings, *, session_id: str, now: float) -> Event:
    """The full session object sent in ``session.created`` (the prototype's template,
    docs/emulator.md#session-configuration).

    ``now`` is the Unix time used for ``expires_at``.
    """
    transcription = (
        None if settings.default_stt_model is None else {"model": settings.default_stt_model}
    )
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": settings.default_model,
        "instructions": "You are a helpful AI assistant.",
        "output_modalities": ["audio", "text"],
        "audio": {
            "input": {
                "format": dict(_PCM24K),
                "transcription": transcription,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "semantic_vad",
                    "eagerness": "medium",
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {
                "format": dict(_PCM24K),
                "model": settings.default_tts_model,
                "voice": settings.default_voice,
                "speed": 1.0,
            },
        },
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_output_tokens": "inf",
        "truncation": "auto",
        "prompt": None,
        "tracing": None,
        "include": None,
        "providerData": {},
        "expires_at": int(now) + settings.session_ttl_seconds,
    }


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Return a new dict: ``patch`` merged into ``base``; dicts merge recursively, any other
    value (lists, ``None`` included) replaces. Neither argument is modified."""
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        old = merged.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_update(
    current: Event,
    update: object,
    settings: EmulatorSettings,
    custom_voice: Callable[[str], bool] | None = None,
) -> tuple[Event, list[str]]:
    """Apply one ``session.update`` payload to ``current``.

    Args:
        current: the effective session (not modified).
        update: the event's ``session`` value as received.
        settings: catalogue extensions and format coercion.
        custom_voice: when given, a ``<workspace>__<name>`` voice must pass it (the voices
            store's lookup, ``voices.VoiceStore.has``).

    Returns:
        ``(new_session, ignored_fields)``: the full merged session and the top-level field
        names that were dropped as unknown.

    Raises:
        SessionUpdateError: any invalid value; the caller must then apply nothing
            (``#inworld-session-update``).
    """
    if not isinstance(update, Mapping):
        raise SessionUpdateError("Invalid 'session': expected an object.", param="session")
    patch: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in update.items():
        if key == "modelId":  # legacy name (#inworld-session-update); `model` wins if both
            patch.setdefault("model", value)
        elif key in KNOWN_SESSION_FIELDS:
            patch[key] = value
        else:
            ignored.append(key)
    _validate_shapes(patch)
    merged = deep_merge(current, patch)
    for path, check in _value_checks(settings, custom_voice):
        if _touches(patch, path):
            value = _get(merged, path)
            if not check(value):
                raise SessionUpdateError(
                    f"Invalid value {value!r} for 'session.{'.'.join(path)}'.",
                    param="session." + ".".join(path),
                )
    if settings.coerce_audio_format:  # Inworld coerces to PCM16 24 kHz (#inworld-audio-formats)
        merged["audio"]["input"]["format"] = dict(_PCM24K)
        merged["audio"]["output"]["format"] = dict(_PCM24K)
    return merged, ignored


def _validate_shapes(patch: Mapping[str, Any]) -> None:
    """Reject containers of the wrong type before merging (so the merge cannot crash)."""
    for path in (("audio",), ("audio", "input"), ("audio", "output"), ("providerData",)):
        if _touches(patch, path):
            value = _get(patch, path)
            if not isinstance(value, Mapping):
                raise SessionUpdateError(
                    f"Invalid value {value!r} for 'session.{'.'.join(path)}': expected an object.",
                    param="session." + ".".join(path),
                )
    if "tools" in patch and not _valid_tools(patch["tools"]):
        raise SessionUpdateError(
            f"Invalid value {patch['tools']!r} for 'session.tools'.", param="session.tools"
        )


def _value_checks(
    settings: EmulatorSettings,
    custom_voice: Callable[[str], bool] | None = None,
) -> tuple[tuple[tuple[str, ...], Callable[[Any], bool]], ...]:
    """(path, predicate) pairs checked against the merged session when the update touches the
    path. The order decides which error is reported when several values are bad."""

    def llm_ok(v: Any) -> bool:
        return isinstance(v, str) and is_routable_llm(v, settings.extra_llm_providers)

    def stt_ok(v: Any) -> bool:
        return isinstance(v, str) and is_known_stt(v)

    def tts_ok(v: Any) -> bool:
        return isinstance(v, str) and is_known_tts(v)

    def voice_ok(v: Any) -> bool:  # a string id only: OpenAI's {"id": ...} form is rejected
        return isinstance(v, str) and is_known_voice(v, settings.extra_voices, custom_voice)

    return (
        (("type",), lambda v: v == "realtime"),
        (("model",), llm_ok),
        (("output_modalities",), _valid_modalities),
        (("audio", "input", "transcription"), _object_or_null),
        (("audio", "input", "transcription", "model"), stt_ok),
        (("audio", "input", "turn_detection"), _object_or_null),
        (("audio", "input", "turn_detection", "type"), lambda v: v in _TURN_TYPES),
        (("audio", "output", "model"), tts_ok),
        (("audio", "output", "voice"), voice_ok),
    )


def _object_or_null(value: Any) -> bool:
    """``null`` (feature off) or an object."""
    return value is None or isinstance(value, Mapping)


def _valid_modalities(value: Any) -> bool:
    """``["audio"]``, ``["text"]`` or both, in any order (``#inworld-session-update``)."""
    return (
        isinstance(value, list)
        and 0 < len(value) == len(set(map(str, value)))
        and all(m in ("audio", "text") for m in value)
    )


def _valid_tools(value: Any) -> bool:
    """A list of tool objects; function tools need a string ``name``
    (``#inworld-session-update``)."""
    if not isinstance(value, list):
        return False
    for tool in value:
        if not isinstance(tool, Mapping) or not isinstance(tool.get("type"), str):
            return False
        if tool["type"] == "function" and not isinstance(tool.get("name"), str):
            return False
    return True


def _touches(patch: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    """Whether ``patch`` sets ``path`` or replaces one of its ancestors with a non-dict.

    Replacing an ancestor dict with a dict that lacks the leaf does not count as touching it.
    """
    node: Any = patch
    for depth, key in enumerate(path):
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
        if depth < len(path) - 1 and node is not None and not isinstance(node, Mapping):
            return True
    return True


def _get(tree: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """Value at ``path``; ``None`` when any step is missing or not a dict."""
    node: Any = tree
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node

"""Beta ⇄ GA dialect mapping for OpenAI Realtime clients (pure data and functions).

Inworld speaks GA; a client that connected in the beta dialect (`OpenAI-Beta: realtime=v1` or
sub-protocol `openai-beta.realtime-v1`) is translated both ways here:

- up: beta client events -> GA;
- down: GA server events -> beta (LiteLLM's `_GA_TO_BETA_EVENT_TYPES`);
- names and shapes: `docs/protocol-notes.md#openai-event-names` and `#openai-session-shape`.

Functions take parsed events and return new ones; inputs are never mutated. Audio deltas are
renamed on the hot path by `beta_fast_rename` without parsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from proxy.core.events import BETA_EVENT_NAMES

__all__ = [
    "Dialect",
    "beta_fast_rename",
    "client_event_to_ga",
    "detect_dialect",
    "is_ga_session",
    "normalize_ga_content",
    "server_event_to_beta",
    "session_to_beta",
    "session_to_ga",
]

Dialect = Literal["ga", "beta"]

# Precomputed quoted forms for renaming a frame's type without parsing it.
_FAST = {f'"{ga}"': f'"{beta}"' for ga, beta in BETA_EVENT_NAMES.items()}

_BETA_FORMATS = {"pcm16": {"type": "audio/pcm", "rate": 24000}, "g711_ulaw": {"type": "audio/pcmu"}}
_BETA_FORMATS["g711_alaw"] = {"type": "audio/pcma"}
_GA_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_CONTENT_TO_GA = {"text": "output_text", "audio": "output_audio"}
_CONTENT_TO_BETA = {"output_text": "text", "output_audio": "audio"}


def detect_dialect(beta_header: str | None, subprotocols: Iterable[str]) -> Dialect:
    """`beta` if the handshake says `OpenAI-Beta: realtime=v1` or offers the beta sub-protocol."""
    if beta_header and "realtime=v1" in beta_header.replace(" ", ""):
        return "beta"
    return "beta" if "openai-beta.realtime-v1" in subprotocols else "ga"


def is_ga_session(session: Any) -> bool:
    """A GA-shaped session (`type`, or nested `audio`): it overrides a beta handshake
    (`docs/protocol-notes.md#openai-dialects`)."""
    if not isinstance(session, dict):
        return False
    return "type" in session or isinstance(session.get("audio"), dict)


def beta_fast_rename(kind: str, text: str | bytes) -> str | bytes:
    """Rename a sniffed GA audio/text delta frame to its beta name, without parsing it."""
    quoted = f'"{kind}"'
    beta = _FAST.get(quoted)
    if beta is None:
        return text
    if isinstance(text, bytes):
        return text.replace(quoted.encode(), beta.encode(), 1)
    return text.replace(quoted, beta, 1)


# -- up: beta -> GA -----------------------------------------------------------------------


def _format_to_ga(value: Any) -> Any:
    return _BETA_FORMATS.get(value, value) if isinstance(value, str) else value


def _modalities_to_ga(value: Any) -> Any:
    # GA cannot ask for both; audio always carries its transcript
    # (`docs/protocol-notes.md#openai-session-shape`).
    if isinstance(value, list):
        return ["audio"] if "audio" in value else list(value)
    return value


def session_to_ga(session: Mapping[str, Any], kind: str = "realtime") -> dict[str, Any]:
    """A flat beta session (or transcription session) as a nested GA session."""
    out: dict[str, Any] = {"type": kind}
    inp: dict[str, Any] = {}
    outp: dict[str, Any] = {}
    for key, value in session.items():
        match key:
            case "modalities":
                out["output_modalities"] = _modalities_to_ga(value)
            case "voice":
                outp["voice"] = value
            case "speed":
                outp["speed"] = value
            case "output_audio_format":
                outp["format"] = _format_to_ga(value)
            case "input_audio_format":
                inp["format"] = _format_to_ga(value)
            case "input_audio_transcription":
                inp["transcription"] = value
            case "input_audio_noise_reduction":
                inp["noise_reduction"] = value
            case "turn_detection":
                inp["turn_detection"] = value
            case "max_response_output_tokens":
                out["max_output_tokens"] = value
            case "client_secret" | "object" | "id" | "expires_at":
                pass  # response-only fields of a minted beta session
            case _:
                out[key] = value
    if inp or outp:
        out["audio"] = {k: v for k, v in (("input", inp), ("output", outp)) if v}
    return out


def _relabel(item: Any, labels: Mapping[str, str]) -> Any:
    """A copy of `item` whose content parts' `type`s are renamed by `labels`."""
    if not isinstance(item, dict) or not isinstance(item.get("content"), list):
        return item
    content = [
        {**part, "type": labels.get(str(part.get("type")), part.get("type"))}
        if isinstance(part, dict)
        else part
        for part in item["content"]
    ]
    return {**item, "content": content}


def _content_to_ga(item: Any) -> Any:
    # Only assistant content differs (`text`/`audio` -> `output_*`,
    # `docs/protocol-notes.md#openai-session-shape`).
    if isinstance(item, dict) and item.get("role") == "assistant":
        return _relabel(item, _CONTENT_TO_GA)
    return item


def _response_to_ga(response: Any) -> Any:
    if not isinstance(response, dict):
        return response
    out: dict[str, Any] = {}
    outp: dict[str, Any] = {}
    for key, value in response.items():
        match key:
            case "modalities":
                out["output_modalities"] = _modalities_to_ga(value)
            case "voice":
                outp["voice"] = value
            case "output_audio_format":
                outp["format"] = _format_to_ga(value)
            case "max_response_output_tokens":
                out["max_output_tokens"] = value
            case _:
                out[key] = value
    if outp:
        out["audio"] = {"output": outp}
    return out


def client_event_to_ga(event: dict[str, Any]) -> dict[str, Any]:
    """A beta client event as its GA equivalent (unknown events are returned unchanged)."""
    kind = event.get("type")
    if kind == "session.update":
        session = event.get("session")
        if isinstance(session, dict) and not is_ga_session(session):
            return {**event, "session": session_to_ga(session)}
    elif kind == "transcription_session.update":
        session = event.get("session")
        if isinstance(session, dict):
            session = session_to_ga(session, "transcription")
        return {**event, "type": "session.update", "session": session}
    elif kind == "response.create" and "response" in event:
        return {**event, "response": _response_to_ga(event["response"])}
    elif kind == "conversation.item.create" and "item" in event:
        return {**event, "item": _content_to_ga(event["item"])}
    return event


# -- down: Inworld's content labels -> GA's ------------------------------------------------


def normalize_ga_content(kind: str, event: dict[str, Any]) -> bool:
    """Give a server event GA's content labels, in place; True if anything changed.

    GA items carry assistant content `output_audio`/`output_text`, while content *parts*
    (`response.content_part.*`) keep `audio`/`text` (`docs/protocol-notes.md#openai-session-shape`).
    Inworld's prototype uses one label for both (`#inworld-content-labels`); strict clients
    (the Python Agents SDK) validate every event, so the proxy fixes whichever side is wrong.
    """
    if kind.startswith("response.content_part."):
        part = event.get("part")
        if isinstance(part, dict) and part.get("type") in _CONTENT_TO_BETA:
            event["part"] = {**part, "type": _CONTENT_TO_BETA[part["type"]]}
            return True
        return False
    if "item" in event:
        return _items_to_ga([event["item"]])
    response = event.get("response")
    if kind == "response.done" and isinstance(response, dict):
        output = response.get("output")
        return isinstance(output, list) and _items_to_ga(output)
    return False


def _items_to_ga(items: list[Any]) -> bool:
    changed = False
    for item in items:
        content = item.get("content") if isinstance(item, dict) else None
        if not isinstance(content, list) or item.get("role") != "assistant":
            continue
        for index, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") in _CONTENT_TO_GA:
                content[index] = {**part, "type": _CONTENT_TO_GA[part["type"]]}
                changed = True
    return changed


# -- down: GA -> beta -----------------------------------------------------------------------


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _format_to_beta(value: Any) -> Any:
    if isinstance(value, dict):
        return _GA_FORMATS.get(value.get("type", ""), value)
    return value


def session_to_beta(session: Any) -> Any:
    """A nested GA session object in the flat beta shape (`realtime.session`)."""
    if not isinstance(session, dict):
        return session
    out: dict[str, Any] = {}
    audio = _obj(session.get("audio"))
    inp, outp = _obj(audio.get("input")), _obj(audio.get("output"))
    for key, value in session.items():
        match key:
            case "audio" | "type":
                pass
            case "output_modalities":
                out["modalities"] = ["text", "audio"] if "audio" in (value or []) else value
            case "max_output_tokens":
                out["max_response_output_tokens"] = value
            case _:
                out[key] = value
    if "format" in inp:
        out["input_audio_format"] = _format_to_beta(inp["format"])
    for ga, beta in (
        ("transcription", "input_audio_transcription"),
        ("noise_reduction", "input_audio_noise_reduction"),
        ("turn_detection", "turn_detection"),
    ):
        if ga in inp:
            out[beta] = inp[ga]
    if "format" in outp:
        out["output_audio_format"] = _format_to_beta(outp["format"])
    for key in ("voice", "speed"):
        if key in outp:
            out[key] = outp[key]
    return out


def _content_to_beta(item: Any) -> Any:
    return _relabel(item, _CONTENT_TO_BETA)


def _part_to_beta(part: Any) -> Any:
    if isinstance(part, dict) and part.get("type") in _CONTENT_TO_BETA:
        return {**part, "type": _CONTENT_TO_BETA[part["type"]]}
    return part


def _response_to_beta(response: Any) -> Any:
    if not isinstance(response, dict):
        return response
    out = {k: v for k, v in response.items() if k not in ("audio", "output_modalities")}
    if "output_modalities" in response:
        mods = response["output_modalities"] or []
        out["modalities"] = ["text", "audio"] if "audio" in mods else mods
    audio = response.get("audio")
    outp = audio.get("output") if isinstance(audio, dict) else None
    if isinstance(outp, dict):
        if "voice" in outp:
            out["voice"] = outp["voice"]
        if "format" in outp:
            out["output_audio_format"] = _format_to_beta(outp["format"])
    if isinstance(out.get("output"), list):
        out["output"] = [_content_to_beta(item) for item in out["output"]]
    return out


def server_event_to_beta(event: dict[str, Any]) -> dict[str, Any] | None:
    """A GA server event as the beta client expects it; None when beta has no such event.

    `conversation.item.added` becomes `conversation.item.created`; its `.done` twin is dropped.
    """
    kind = event.get("type", "")
    if kind == "conversation.item.done":
        return None
    out = dict(event)
    if kind in BETA_EVENT_NAMES:
        out["type"] = BETA_EVENT_NAMES[kind]
    if kind in ("session.created", "session.updated"):
        session = event.get("session")
        if isinstance(session, dict) and session.get("type") == "transcription":
            out["type"] = "transcription_session.updated"
        out["session"] = session_to_beta(session)
    elif kind in ("response.created", "response.done"):
        out["response"] = _response_to_beta(event.get("response"))
    elif "item" in event:
        out["item"] = _content_to_beta(event["item"])
    elif "part" in event:
        out["part"] = _part_to_beta(event["part"])
    return out

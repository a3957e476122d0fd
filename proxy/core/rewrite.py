"""Pure rewrite rules: OpenAI session fields -> Inworld session fields, driven by `Rules`.

Implements `docs/protocol-notes.md#inworld-session-update` and `#inworld-model-ids`
(session.update layout, `provider/model` LLM ids, `audio.input.transcription.model`,
`audio.output.model`, `audio.output.voice`). Every function here takes plain dicts and returns
new ones; inputs are never mutated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxy.config import Rules
from proxy.core.turn_detection import initial_turn_detection, retune

__all__ = [
    "ClientNames",
    "SessionFieldError",
    "initial_session",
    "map_model",
    "map_stt",
    "map_voice",
    "merge_sessions",
    "rewrite_response",
    "rewrite_session",
    "show_client_names",
    "transcription_session",
]

# Inworld documents no transcription-only session type (only "realtime",
# docs/protocol-notes.md#inworld-session-update); a realtime session that never answers is the
# equivalent.
_NO_RESPONSES = {"create_response": False, "interrupt_response": False}


class SessionFieldError(ValueError):
    """A client session field has a shape no rule can translate.

    `param` is the dotted path OpenAI would name in `error.param`.
    """

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(slots=True)
class ClientNames:
    """The names the client itself used, so they can be shown back to it (`echo_client_names`).

    `None` means the client has not named one; Inworld's value is then shown.
    """

    model: str | None = None
    voice: str | None = None
    stt: str | None = None


def map_model(rules: Rules, name: str | None) -> str:
    """Inworld LLM id for an OpenAI model name: mapped names map, other `provider/model` ids
    pass, anything else gets the fallback."""
    if not name:
        return rules.model_fallback
    if name in rules.model_map:
        return rules.model_map[name]
    return name if "/" in name else rules.model_fallback


def map_stt(rules: Rules, name: str | None) -> str:
    """Inworld STT id for an OpenAI transcription model name."""
    if not name:
        return rules.stt_fallback
    if "/" in name:
        return name
    return rules.stt_map.get(name, rules.stt_fallback)


def map_voice(rules: Rules, voice: Any, param: str) -> tuple[str, str]:
    """Return (Inworld voice, the client's own name for it) for a client voice value.

    A `{"id": ...}` custom-voice object is unwrapped; mapped OpenAI voices are replaced; other
    strings (Inworld voices, cloned `workspace__name` ids) pass unchanged.

    Raises:
        SessionFieldError: the voice is neither a non-empty string nor an object with an `id`.
    """
    name = voice.get("id") if isinstance(voice, dict) else voice
    if not isinstance(name, str) or not name:
        raise SessionFieldError(param, "voice must be a string or an object with a string 'id'")
    return rules.voice_map.get(name, name), name


def initial_session(rules: Rules, url_model: str | None) -> tuple[dict[str, Any], ClientNames]:
    """The session the proxy sets on every new upstream session, before any client update.

    It makes Inworld use the mapped LLM, TTS model and voice (and STT when
    `transcription_when_absent`) even when the client never sends `session.update`, and
    OpenAI's default `output_modalities` (`["audio"]`, spoken with its transcript) where
    Inworld's is `["audio", "text"]` (docs/protocol-notes.md#inworld-output-modalities).
    """
    voice, voice_name = map_voice(rules, rules.voice_default, "voices.default")
    output: dict[str, Any] = {"model": rules.tts_model, "voice": voice}
    session: dict[str, Any] = {
        "type": "realtime",
        "model": map_model(rules, url_model),
        "output_modalities": ["audio"],
        "audio": {"output": output},
    }
    if rules.transcription_when_absent:
        session["audio"]["input"] = {"transcription": {"model": rules.stt_fallback}}
    turns = initial_turn_detection(rules.turn_detection)  # [turn_detection]
    if turns is not None:
        session["audio"].setdefault("input", {})["turn_detection"] = turns
    return session, ClientNames(model=url_model, voice=voice_name)


def merge_sessions(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `over` into a copy of `base` (objects merge; anything else replaces)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_sessions(out[key], value)
        else:
            out[key] = value
    return out


def transcription_session(session: dict[str, Any]) -> dict[str, Any]:
    """A GA `type: "transcription"` session as the realtime session Inworld runs for it.

    Text-only output, and turn detection that commits speech (so transcripts arrive) but never
    starts or interrupts a response. `include` (logprobs) has no Inworld equivalent.
    """
    out = {k: v for k, v in session.items() if k not in ("type", "include")}
    out["type"] = "realtime"
    out["output_modalities"] = ["text"]
    audio = dict(out["audio"]) if isinstance(out.get("audio"), dict) else {}
    inp = dict(audio["input"]) if isinstance(audio.get("input"), dict) else {}
    turns = inp.get("turn_detection", {"type": "server_vad"})
    if isinstance(turns, dict):
        inp["turn_detection"] = {**turns, **_NO_RESPONSES}
    audio["input"] = inp
    out["audio"] = audio
    return out


def rewrite_session(
    rules: Rules, session: Any, names: ClientNames, param: str = "session"
) -> dict[str, Any]:
    """Translate the `session` object of a client `session.update` for Inworld.

    Records the client's own model, voice and STT names in `names`.

    Raises:
        SessionFieldError: `session` (or a field the rules must read) has the wrong type.
    """
    if not isinstance(session, dict):
        raise SessionFieldError(param, f"'{param}' must be an object")
    out = {k: v for k, v in session.items() if k not in rules.drop_session_fields}
    if "model" in out:
        model = out["model"]
        if not isinstance(model, str):
            raise SessionFieldError(f"{param}.model", "model must be a string")
        names.model = model
        out["model"] = map_model(rules, model)
    audio = out.get("audio")
    if audio is None:
        return out
    if not isinstance(audio, dict):
        raise SessionFieldError(f"{param}.audio", "audio must be an object")
    out["audio"] = audio = dict(audio)
    if "input" in audio:
        audio["input"] = _rewrite_input(rules, audio["input"], names, f"{param}.audio.input")
    if "output" in audio:
        audio["output"] = _rewrite_output(rules, audio["output"], names, f"{param}.audio.output")
    return out


def _rewrite_input(rules: Rules, value: Any, names: ClientNames, param: str) -> Any:
    if not isinstance(value, dict):
        if value is None:
            return value
        raise SessionFieldError(param, "audio.input must be an object")
    if "turn_detection" in value:  # [turn_detection] (proxy.core.turn_detection)
        turns = retune(rules.turn_detection, value["turn_detection"])
        if turns is not value["turn_detection"]:
            value = {**value, "turn_detection": turns}
    if "transcription" not in value:
        return value
    value = dict(value)
    tr = value["transcription"]
    if tr is None:
        names.stt = None
        if rules.transcription_when_absent:
            value["transcription"] = {"model": rules.stt_fallback}
        return value
    if not isinstance(tr, dict):
        raise SessionFieldError(f"{param}.transcription", "transcription must be an object")
    model = tr.get("model")
    if model is not None and not isinstance(model, str):
        raise SessionFieldError(f"{param}.transcription.model", "model must be a string")
    names.stt = model
    value["transcription"] = {**tr, "model": map_stt(rules, model)}
    return value


def _rewrite_output(rules: Rules, value: Any, names: ClientNames, param: str) -> Any:
    if not isinstance(value, dict):
        if value is None:
            return value
        raise SessionFieldError(param, "audio.output must be an object")
    if "voice" not in value:
        return value
    voice, names.voice = map_voice(rules, value["voice"], f"{param}.voice")
    return {**value, "voice": voice}


def rewrite_response(rules: Rules, response: Any) -> dict[str, Any] | None:
    """Translate the `response` of a client `response.create`; None when nothing changes.

    Only a per-response voice (`response.audio.output.voice`) needs mapping.

    Raises:
        SessionFieldError: `response` or its voice has the wrong type.
    """
    if response is None:
        return None
    if not isinstance(response, dict):
        raise SessionFieldError("response", "'response' must be an object")
    audio = response.get("audio")
    output = audio.get("output") if isinstance(audio, dict) else None
    if not isinstance(output, dict) or "voice" not in output:
        return None
    voice, _ = map_voice(rules, output["voice"], "response.audio.output.voice")
    assert isinstance(audio, dict)  # narrowed above; keeps mypy and readers in step
    return {**response, "audio": {**audio, "output": {**output, "voice": voice}}}


def show_client_names(session: Any, names: ClientNames) -> Any:
    """Return `session` (from Inworld) with the client's own model/voice/STT names shown.

    Used on `session.created`/`session.updated` when `echo_client_names` is on, so a strict
    client sees the names it set. Fields the client never named keep Inworld's values.
    """
    if not isinstance(session, dict):
        return session
    out = dict(session)
    if names.model is not None and "model" in out:
        out["model"] = names.model
    audio = out.get("audio")
    if not isinstance(audio, dict):
        return out
    audio = out["audio"] = dict(audio)
    output = audio.get("output")
    if names.voice is not None and isinstance(output, dict) and "voice" in output:
        audio["output"] = {**output, "voice": names.voice}
    inp = audio.get("input")
    tr = inp.get("transcription") if isinstance(inp, dict) else None
    if names.stt is not None and isinstance(tr, dict) and isinstance(inp, dict):
        audio["input"] = {**inp, "transcription": {**tr, "model": names.stt}}
    return out

"""A Live `session.start` read, checked and turned into the proxy's first Inworld
`session.update` (pure).

`parse_start` reads the client's `SessionConfig` (openai/types/live/session_config.py;
docs/protocol-notes.md#openai-live-session) into a `LiveStart`. What cannot be served at all
raises `LiveRefusal` (the session does not start); what is served without one of its features
comes back as a list of `Problem`s (each becomes a non-fatal Live `error`,
`unsupported_feature`). `inworld_session` builds the Inworld session through the same rules as
every Realtime session (`proxy.core.rewrite.initial_session` / `rewrite_session`: the Live
model through `[models.map]`, the voice through `[voices.map]`, STT, TTS, turn detection), and
`resource` is the `SessionResource` the client is shown: its own config, never Inworld's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from proxy.config import Rules
from proxy.core.rewrite import ClientNames, initial_session, merge_sessions, rewrite_session

__all__ = [
    "DEFAULT_FORMAT",
    "DEFAULT_VOICE",
    "DELEGATE_TOOL",
    "LiveRefusal",
    "LiveStart",
    "Problem",
    "function_tools",
    "inworld_instructions",
    "inworld_session",
    "live_param",
    "parse_start",
    "resource",
    "responses_tool_choice",
]

DEFAULT_VOICE = "marin"  # Live's default voice (session_config.py)
DEFAULT_FORMAT: dict[str, Any] = {"type": "audio/pcm", "rate": 24000}
_FORMAT_RATES = {"audio/pcm": (16000, 24000), "audio/pcmu": (8000,), "audio/pcma": (8000,)}
_CHOICES = ("auto", "none", "required")
_ROLES = {"developer": "system", "user": "user", "assistant": "assistant"}
# Live's server drives the turns: Inworld's VAD ends the user's turn and answers it, and
# speech over a reply interrupts it (docs/protocol-notes.md#openai-live-mapping).
_TURNS = {"type": "semantic_vad", "create_response": True, "interrupt_response": True}
_LIVE_STT = "gpt-live-transcribe"  # Live's transcriber, mapped by [transcription.map]
# The hidden function tool that stands for client delegation (`live.client_delegation`).
DELEGATE_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "delegate_to_app",
    "description": (
        "Hand a task to the application when the user needs information or an action you "
        "cannot provide yourself. The result comes back later as context; keep talking."
    ),
    "parameters": {
        "type": "object",
        "properties": {"task": {"type": "string", "description": "The task, in one sentence."}},
        "required": ["task"],
    },
}
# Inworld `param` -> the Live field it came from (for a refusal of the first update).
_PARAMS = (
    ("session.audio.input.format", "session.audio.format"),
    ("session.audio.output.format", "session.audio.format"),
    ("session.audio.output.voice", "session.audio.output.voice"),
    ("session.model", "session.model"),
    ("session.instructions", "session.instructions"),
    ("session.tools", "session.delegation.responses.tools"),
    ("session.tool_choice", "session.delegation.responses.tool_choice"),
    ("session.max_output_tokens", "session.delegation.responses.max_output_tokens"),
)


class LiveRefusal(ValueError):
    """The `session.start` cannot be served: `code` and `param` for the Live `error`."""

    def __init__(self, param: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass(frozen=True, slots=True)
class Problem:
    """A feature of the start that the proxy leaves out (a non-fatal `unsupported_feature`)."""

    param: str
    message: str


@dataclass(slots=True)
class LiveStart:
    """A checked `session.start.session`."""

    model: str
    instructions: str | None = None
    audio_format: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_FORMAT))
    voice: Any = DEFAULT_VOICE
    delegation: str = "client"  # "client" or "responses"
    responses: dict[str, Any] = field(default_factory=dict)  # delegation.responses, kept part
    tools: list[dict[str, Any]] = field(default_factory=list)  # Inworld session tools
    tool_choice: Any = None
    items: list[dict[str, Any]] = field(default_factory=list)  # Inworld history items
    echo: dict[str, Any] = field(default_factory=dict)  # what the resource shows


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise LiveRefusal(param, f"'{param}' must be a string.")
    return value


def _format(value: Any) -> dict[str, Any]:
    if value is None:
        return dict(DEFAULT_FORMAT)
    kind = value.get("type") if isinstance(value, dict) else None
    rate = value.get("rate", 8000 if kind in ("audio/pcmu", "audio/pcma") else None)
    if kind not in _FORMAT_RATES or rate not in _FORMAT_RATES[kind]:
        raise LiveRefusal(
            "session.audio.format",
            "audio.format must be {type: audio/pcm, rate: 16000|24000} or audio/pcmu or "
            "audio/pcma at 8000.",
        )
    return {"type": kind, "rate": rate}


def function_tools(responses: dict[str, Any], problems: list[Problem]) -> list[dict[str, Any]]:
    """`responses.tools` as Inworld session tools (function tools; `strict` dropped); hosted
    tools are left out, each a `Problem`. Keeps only the served tools in `responses`."""
    tools = responses.get("tools") or []
    if not isinstance(tools, list):
        raise LiveRefusal("session.delegation.responses.tools", "tools must be an array.")
    kept, out = [], []
    for i, tool in enumerate(tools):
        param = f"session.delegation.responses.tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            problems.append(Problem(param, f"Hosted tool {kind!r} is not served from Inworld."))
            continue
        name = _text(tool.get("name"), f"{param}.name")
        fn: dict[str, Any] = {"type": "function", "name": name}
        for key in ("description", "parameters"):
            if tool.get(key) is not None:
                fn[key] = tool[key]
        kept.append(tool)
        out.append(fn)
    responses["tools"] = kept
    return out


def responses_tool_choice(responses: dict[str, Any], problems: list[Problem]) -> Any:
    """`responses.tool_choice` for Inworld (None: leave Inworld's); others are a `Problem`."""
    choice = responses.get("tool_choice")
    if choice is None or choice in _CHOICES:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "name": choice["name"]}
    problems.append(
        Problem("session.delegation.responses.tool_choice", "Only auto, none, required and a "
                "function tool_choice are served from Inworld; auto is used.")
    )  # fmt: skip
    responses.pop("tool_choice", None)
    return None


def _items(value: Any) -> list[dict[str, Any]]:
    """`input` history messages as Inworld conversation items."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise LiveRefusal("session.input", "input must be an array of messages.")
    out = []
    for i, message in enumerate(value):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in _ROLES or not isinstance(content, list):
            raise LiveRefusal(f"session.input[{i}]", "input items are messages with a role "
                              "(developer, user, assistant) and a content array.")  # fmt: skip
        text = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        part = "output_text" if role == "assistant" else "input_text"
        out.append(
            {"type": "message", "role": _ROLES[role], "content": [{"type": part, "text": text}]}
        )
    return out


def parse_start(session: Any, *, client_delegation: bool) -> tuple[LiveStart, list[Problem]]:
    """Check a `session.start.session` and read what the proxy serves of it.

    `client_delegation`: give client-delegation sessions the hidden `DELEGATE_TOOL`.

    Raises:
        LiveRefusal: the start cannot be served (bad model, format, voice or delegation, or
            `delegation.type = "decisions"`).
    """
    if not isinstance(session, dict):
        raise LiveRefusal("session", "session.start needs a 'session' object.")
    model = session.get("model")
    if not isinstance(model, str) or not model:
        raise LiveRefusal("session.model", "session.model is required.", "missing_model")
    problems: list[Problem] = []
    start = LiveStart(model=model)
    echo: dict[str, Any] = {"model": model}
    if session.get("instructions") is not None:
        start.instructions = echo["instructions"] = _text(
            session["instructions"], "session.instructions"
        )
    audio = session.get("audio") or {}
    if not isinstance(audio, dict):
        raise LiveRefusal("session.audio", "audio must be an object.")
    start.audio_format = _format(audio.get("format"))
    output = audio.get("output") or {}
    voice = output.get("voice") if isinstance(output, dict) else None
    if voice is not None:
        if not (isinstance(voice, str) and voice) and not (
            isinstance(voice, dict) and isinstance(voice.get("id"), str) and voice["id"]
        ):
            raise LiveRefusal("session.audio.output.voice", "voice must be a name or {id}.")
        start.voice = voice
    echo["audio"] = {"format": start.audio_format, "output": {"voice": start.voice}}
    _delegation(session.get("delegation"), start, echo, problems, client_delegation)
    start.items = _items(session.get("input"))
    if session.get("input") is not None:
        echo["input"] = copy.deepcopy(session["input"])
    if session.get("triggers"):
        problems.append(Problem("session.triggers", "Decisions triggers are not served."))
    if session.get("store"):
        problems.append(Problem("session.store", "Stored sessions (forks, recordings) are "
                                "not served; the session is not stored."))  # fmt: skip
    echo["store"] = False
    if isinstance(session.get("safety_identifier"), str):
        echo["safety_identifier"] = session["safety_identifier"]
    start.echo = echo
    return start, problems


def _delegation(
    value: Any,
    start: LiveStart,
    echo: dict[str, Any],
    problems: list[Problem],
    client_delegation: bool,
) -> None:
    kind = value.get("type") if isinstance(value, dict) else None
    if value is None or kind == "client":
        if client_delegation:
            start.tools = [dict(DELEGATE_TOOL)]
        if value is not None:
            echo["delegation"] = copy.deepcopy(value)
        return
    if kind == "decisions":
        raise LiveRefusal(
            "session.delegation.type",
            "Decisions delegation is not served from Inworld; use responses or client.",
            "unsupported_feature",
        )
    responses = value.get("responses") if kind == "responses" else None
    if not isinstance(responses, dict):
        raise LiveRefusal(
            "session.delegation", "delegation must be client, or responses with a config."
        )
    responses = copy.deepcopy(responses)
    start.delegation = "responses"
    start.tools = function_tools(responses, problems)
    start.tool_choice = responses_tool_choice(responses, problems)
    start.responses = responses
    echo["delegation"] = {**copy.deepcopy(value), "responses": responses}


def inworld_instructions(start: LiveStart) -> str | None:
    """The Inworld `instructions`: the Live (frontend) prompt, then the Responses backend's."""
    parts = [start.instructions, start.responses.get("instructions")]
    text = "\n\n".join(p for p in parts if isinstance(p, str) and p.strip())
    return text or None


def inworld_session(rules: Rules, start: LiveStart) -> tuple[dict[str, Any], ClientNames]:
    """The proxy's first Inworld `session.update` for this start.

    Raises:
        proxy.core.rewrite.SessionFieldError: a rule could not read a field.
    """
    base, names = initial_session(rules, start.model)
    live: dict[str, Any] = {
        "type": "realtime",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": start.audio_format,
                "transcription": {"model": _LIVE_STT},
                "turn_detection": dict(_TURNS),
            },
            "output": {"format": start.audio_format, "voice": start.voice},
        },
    }
    instructions = inworld_instructions(start)
    if instructions is not None:
        live["instructions"] = instructions
    if start.tools:
        live["tools"] = start.tools
    if start.tool_choice is not None:
        live["tool_choice"] = start.tool_choice
    if isinstance(start.responses.get("max_output_tokens"), int):
        live["max_output_tokens"] = start.responses["max_output_tokens"]
    names.model = start.model
    return merge_sessions(base, rewrite_session(rules, live, names)), names


def resource(start: LiveStart, session_id: str, expires_at: int) -> dict[str, Any]:
    """The `SessionResource` shown in `session.started/updated/closed`: the client's config,
    resolved defaults filled in (openai/types/live/session_resource.py)."""
    return {
        "id": session_id,
        "expires_at": expires_at,
        "status": "active",
        **copy.deepcopy(start.echo),
    }


def live_param(inworld_param: Any) -> str | None:
    """The Live field behind an Inworld error's `param` (None: no Live field maps to it)."""
    if not isinstance(inworld_param, str):
        return None
    for prefix, live in _PARAMS:
        if inworld_param == prefix or inworld_param.startswith((prefix + ".", prefix + "[")):
            return live + inworld_param[len(prefix) :] if live.endswith("tools") else live
    return None

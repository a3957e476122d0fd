"""What the fake model says: a deterministic reply or tool call for the conversation so far.

Pure decisions only; ``responses.py`` turns a ``Plan`` into events
(docs/emulator.md#text-turns-and-responses, docs/emulator.md#tool-calls).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .conversation import Conversation

__all__ = ["Plan", "Reply", "ToolCall", "choose_tool", "plan_reply", "tool_arguments"]


@dataclass(frozen=True, slots=True)
class Reply:
    """An assistant message with this text (spoken when the response has audio)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A ``function_call`` of tool ``name`` with JSON ``arguments``."""

    name: str
    arguments: str


Plan = Reply | ToolCall


def choose_tool(
    tools: object, tool_choice: object, user_text: str | None
) -> Mapping[str, Any] | None:
    """The function tool to call, or None for a plain reply.

    ``"none"`` never calls; ``"required"`` calls the first function; ``{"type":"function",
    "name":...}`` (or the Chat-style ``{"function":{"name":...}}``) calls that one; otherwise
    (``"auto"``) a tool is called when the user text mentions its name, with ``_`` or spaces.
    """
    functions = [
        t
        for t in (tools if isinstance(tools, list) else [])
        if isinstance(t, Mapping) and t.get("type") == "function" and isinstance(t.get("name"), str)
    ]
    if not functions or tool_choice == "none":
        return None
    if isinstance(tool_choice, Mapping):
        nested = tool_choice.get("function")
        wanted = tool_choice.get("name") or (
            nested.get("name") if isinstance(nested, Mapping) else None
        )
        return next((t for t in functions if t["name"] == wanted), None)
    if tool_choice == "required":
        return functions[0]
    text = (user_text or "").lower()
    for tool in functions:
        name = str(tool["name"]).lower()
        if name in text or name.replace("_", " ") in text:
            return tool
    return None


def tool_arguments(tool: Mapping[str, Any]) -> str:
    """Deterministic JSON arguments: each *required* parameter gets a sample value by type
    (string ``"test"``, number/integer 1, boolean true, enum its first value)."""
    params = tool.get("parameters")
    params = params if isinstance(params, Mapping) else {}
    props = params.get("properties")
    props = props if isinstance(props, Mapping) else {}
    required = params.get("required")
    args: dict[str, Any] = {}
    for name in required if isinstance(required, list) else []:
        schema = props.get(name)
        args[str(name)] = _sample_value(schema if isinstance(schema, Mapping) else {})
    return json.dumps(args)


def _sample_value(schema: Mapping[str, Any]) -> Any:
    """A value matching a (simple) JSON schema."""
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    samples = {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}, "null": None}
    return samples.get(str(schema.get("type")), "test")


def plan_reply(
    conversation: Conversation, heard: Mapping[str, str], tools: object, tool_choice: object
) -> Plan:
    """Decide the next response from the conversation (deterministic).

    After a ``function_call_output`` item: ``"The tool returned: <output>"`` (this wins over
    ``tool_choice`` so a client cannot loop forever). Else a tool call when ``choose_tool``
    picks one. Else ``"You said: <latest user text>"``, or a greeting with no user text.
    """
    last = conversation.items[-1] if conversation.items else None
    if last is not None and last.get("type") == "function_call_output":
        return Reply(f"The tool returned: {last.get('output')}")
    user_text = conversation.latest_user_text(heard)
    tool = choose_tool(tools, tool_choice, user_text)
    if tool is not None:
        return ToolCall(str(tool["name"]), tool_arguments(tool))
    return Reply(f"You said: {user_text}" if user_text else "Hello! How can I help you today?")

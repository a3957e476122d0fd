"""Live context and backend items as Inworld conversation items (pure helpers of
`proxy.core.live_client`).

Live's context channels have no Realtime twin (docs/protocol-notes.md#openai-live-mapping), so
they are approximated, and docs/live.md marks them lossy:

- `session.thinking.append` (silent context) -> a `system` message, no response;
- `session.commentary.append` (context the model should say) -> a `system` message asking for
  it to be said in the model's own words, and a `response.create`;
- either, with the `delegation_id` of a client delegation -> the output of its hidden call;
- `response.item.create` -> the item itself: a `function_call_output` (text parts joined), or a
  user / developer message.
Each function returns the Inworld `item` or raises `ItemRefusal` (a Live `error`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ItemRefusal", "call_output", "context_message", "response_item"]

_ROLES = {"user": "user", "developer": "system", "system": "system"}
_TEXT_PARTS = ("input_text", "output_text", "text")


class ItemRefusal(ValueError):
    """A client item the proxy cannot send to Inworld: `code` and `param` for the error."""

    def __init__(self, param: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def _text(content: Any, param: str) -> str:
    """A string, or the text of a list of text parts (other parts are refused)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ItemRefusal(param, f"'{param}' must be a string or an array of text parts.")
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in _TEXT_PARTS:
            kind = part.get("type") if isinstance(part, dict) else None
            raise ItemRefusal(
                param, f"Content part {kind!r} is not served from Inworld (text only).",
                "unsupported_feature",
            )  # fmt: skip
        texts.append(str(part.get("text", "")))
    return "".join(texts)


def _message(role: str, text: str) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}


def call_output(call_id: str, output: str) -> dict[str, Any]:
    """A `function_call_output` item."""
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def context_message(kind: str, content: str) -> dict[str, Any]:
    """The system message for `session.thinking.append` (kind `thinking`) or
    `session.commentary.append` (kind `commentary`)."""
    if kind == "commentary":
        content = f"Tell the user this, in your own words: {content}"
    return _message("system", content)


def response_item(item: Any) -> tuple[dict[str, Any], str | None]:
    """The Inworld item for `response.item.create`, and the `call_id` it answers (if any).

    Raises:
        ItemRefusal: an item type or content the proxy does not serve.
    """
    if not isinstance(item, dict):
        raise ItemRefusal("item", "'item' must be an object.")
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "function_call_output":
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ItemRefusal("item.call_id", "function_call_output needs a call_id.")
        return call_output(call_id, _text(item.get("output"), "item.output")), call_id
    if kind == "message":
        role = _ROLES.get(str(item.get("role")))
        if role is None:
            raise ItemRefusal("item.role", "Messages to the backend are user or developer.")
        return _message(role, _text(item.get("content"), "item.content")), None
    raise ItemRefusal(
        "item.type",
        f"Item type {kind!r} is not served from Inworld (function_call_output and messages).",
        "unsupported_feature",
    )

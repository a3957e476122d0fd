"""The emulated conversation: an ordered list of realtime items plus client-item validation.

Items follow the GA envelope ``{id, object:"realtime.item", type, status, role, content}``
(docs/protocol-notes.md#openai-session-shape), which Inworld shares (same section).
"""

import copy
from collections.abc import Mapping
from typing import Any

from .errors import RequestError
from .ids import Event, IdFactory

__all__ = ["Conversation", "ItemError", "item_text"]

_ITEM_TYPES = ("message", "function_call", "function_call_output")
_ROLES = ("user", "assistant", "system", "tool")


class ItemError(RequestError):
    """A client item operation failed (``item_not_found``, ``invalid_value``...;
    docs/protocol-notes.md#inworld-errors)."""


def item_text(item: Mapping[str, Any]) -> str | None:
    """The words a message item carries: its text parts, else its audio transcripts.

    Returns None for non-message items and messages without any text.
    """
    if item.get("type") != "message":
        return None
    texts: list[str] = []
    for part in item.get("content") or ():
        if not isinstance(part, Mapping):
            continue
        for key in ("text", "transcript"):
            value = part.get(key)
            if isinstance(value, str) and value:
                texts.append(value)
                break
    return " ".join(texts) if texts else None


class Conversation:
    """Ordered conversation items. Item dicts are owned here; hand out copies in events."""

    def __init__(self) -> None:
        """Start empty."""
        self.items: list[Event] = []
        """The conversation in order (live dicts; tests may read them)."""

    def last_id(self) -> str | None:
        """Id of the last item, or None for an empty conversation."""
        return str(self.items[-1]["id"]) if self.items else None

    def find(self, item_id: object) -> Event:
        """The item with ``item_id``; raises ``ItemError`` ``item_not_found`` otherwise."""
        for item in self.items:
            if item["id"] == item_id:
                return item
        raise ItemError(
            f"Item with item_id '{item_id}' not found.", code="item_not_found", param="item_id"
        )

    def append(self, item: Event) -> str | None:
        """Append ``item``; return the id of the item before it (``previous_item_id``)."""
        previous = self.last_id()
        self.items.append(item)
        return previous

    def insert(self, item: Event, previous_item_id: object) -> str | None:
        """Insert after ``previous_item_id`` (``"root"`` = first; None = append).

        Returns the effective previous item id. Raises ``ItemError`` if it is unknown.
        """
        if previous_item_id is None:
            return self.append(item)
        if previous_item_id == "root":
            self.items.insert(0, item)
            return None
        anchor = self.find(previous_item_id)
        self.items.insert(self.items.index(anchor) + 1, item)
        return str(anchor["id"])

    def delete(self, item_id: object) -> None:
        """Remove the item; raises ``ItemError`` ``item_not_found`` if absent."""
        self.items.remove(self.find(item_id))

    def latest_user_text(self, heard: Mapping[str, str]) -> str | None:
        """Text of the most recent user message; audio items use ``heard`` (fake STT output)
        when they carry no transcript of their own."""
        for item in reversed(self.items):
            if item.get("type") == "message" and item.get("role") == "user":
                return item_text(item) or heard.get(str(item["id"]))
        return None

    def text_chars(self) -> int:
        """Characters of text across all items (drives the fake token usage)."""
        total = 0
        for item in self.items:
            total += len(item_text(item) or "")
            for key in ("arguments", "output"):
                value = item.get(key)
                total += len(value) if isinstance(value, str) else 0
        return total

    def normalize_client_item(self, raw: object, ids: IdFactory) -> Event:
        """Validate a ``conversation.item.create`` item and return the stored form.

        Assigns a server id when missing, sets ``object:"realtime.item"`` and
        ``status:"completed"``. Raises ``ItemError`` (``invalid_value``) for a bad shape and
        for a duplicate id.
        """
        if not isinstance(raw, Mapping):
            raise ItemError(
                "Invalid 'item': expected an object.", code="invalid_value", param="item"
            )
        item = copy.deepcopy(dict(raw))
        kind = item.get("type", "message")
        if kind not in _ITEM_TYPES:
            raise ItemError(
                f"Invalid value {kind!r} for 'item.type'.", code="invalid_value", param="item.type"
            )
        if kind == "message":
            if item.get("role") not in _ROLES:
                raise ItemError(
                    f"Invalid value {item.get('role')!r} for 'item.role'.",
                    code="invalid_value",
                    param="item.role",
                )
            if not isinstance(item.get("content", []), list):
                raise ItemError(
                    "Invalid 'item.content': expected an array.",
                    code="invalid_value",
                    param="item.content",
                )
            item.setdefault("content", [])
        if kind in ("function_call", "function_call_output") and not isinstance(
            item.get("call_id"), str
        ):
            raise ItemError(
                "Missing required parameter 'item.call_id'.",
                code="missing_required_parameter",
                param="item.call_id",
            )
        if kind == "function_call_output" and not isinstance(item.get("output"), str):
            raise ItemError(
                "Missing required parameter 'item.output'.",
                code="missing_required_parameter",
                param="item.output",
            )
        item_id = item.get("id")
        if item_id is None:
            item_id = ids.prefixed("item")
        elif not isinstance(item_id, str) or any(i["id"] == item_id for i in self.items):
            raise ItemError(
                f"Invalid value {item_id!r} for 'item.id': must be a new string id.",
                code="invalid_value",
                param="item.id",
            )
        envelope = {"id": item_id, "object": "realtime.item", "type": kind, "status": "completed"}
        return {**envelope, **{k: v for k, v in item.items() if k not in envelope}}

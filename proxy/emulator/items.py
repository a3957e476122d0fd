"""Client conversation-item operations → server events (docs/emulator.md#text-turns-and-responses,
docs/emulator.md#other-events).

Each function takes the client event and returns the events to send, or raises
``ItemError`` (the caller turns it into an ``error`` event carrying the client ``event_id``).
"""

import copy

from .conversation import Conversation, ItemError
from .ids import Event, IdFactory

__all__ = ["create_item", "delete_item", "retrieve_item", "truncate_item"]


def create_item(conversation: Conversation, ids: IdFactory, event: Event) -> list[Event]:
    """``conversation.item.create`` → ``conversation.item.added`` + ``conversation.item.done``
    (server ``id`` if missing, ``object:"realtime.item"``, ``status:"completed"``)."""
    item = conversation.normalize_client_item(event.get("item"), ids)
    previous = conversation.insert(item, event.get("previous_item_id"))
    return [
        ids.event("conversation.item.added", previous_item_id=previous, item=copy.deepcopy(item)),
        ids.event("conversation.item.done", previous_item_id=previous, item=copy.deepcopy(item)),
    ]


def delete_item(conversation: Conversation, ids: IdFactory, event: Event) -> list[Event]:
    """``conversation.item.delete`` → ``.deleted``; unknown id → ``item_not_found``."""
    conversation.delete(event.get("item_id"))
    return [ids.event("conversation.item.deleted", item_id=event["item_id"])]


def retrieve_item(conversation: Conversation, ids: IdFactory, event: Event) -> list[Event]:
    """``conversation.item.retrieve`` → ``conversation.item.retrieved`` with the full item."""
    item = conversation.find(event.get("item_id"))
    return [ids.event("conversation.item.retrieved", item=copy.deepcopy(item))]


def truncate_item(conversation: Conversation, ids: IdFactory, event: Event) -> list[Event]:
    """``conversation.item.truncate`` → ``conversation.item.truncated``.

    Only assistant messages can be truncated (prototype ``invalid_item_type``,
    docs/protocol-notes.md#inworld-errors); ``audio_end_ms`` must be a non-negative integer.
    The stored item is left unchanged.
    """
    item = conversation.find(event.get("item_id"))
    if item.get("type") != "message" or item.get("role") != "assistant":
        raise ItemError("Only assistant message items can be truncated.", code="invalid_item_type")
    audio_end_ms = event.get("audio_end_ms")
    if not isinstance(audio_end_ms, int) or isinstance(audio_end_ms, bool) or audio_end_ms < 0:
        raise ItemError(
            f"Invalid value {audio_end_ms!r} for 'audio_end_ms'.",
            code="invalid_value",
            param="audio_end_ms",
        )
    return [
        ids.event(
            "conversation.item.truncated",
            item_id=item["id"],
            content_index=event.get("content_index", 0),
            audio_end_ms=audio_end_ms,
        )
    ]

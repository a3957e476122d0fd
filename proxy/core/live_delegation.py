"""Live delegations over Inworld function calling (pure book-keeping).

Live's voice model hands work to a backend (docs/protocol-notes.md#openai-live-delegation):
with Responses delegation the function tools run in the client, which sees
`session.delegation.created {target: "responses"}` and then the Responses API stream wrapped in
`response.event` envelopes, reads each call from `response.output_item.done`, and answers with
`response.item.create {function_call_output}` plus `response.create`. Inworld is a Realtime
model with function calling, so `Delegations` maps one onto the other:

- the first function call of an Inworld response opens a delegation (its Inworld
  `response_id` is the Responses id) and emits `response.created`; each call's
  `response.output_item.done` follows; Inworld's `response.done` ends the stream with
  `response.completed` (`.incomplete` / `.failed`), usage mapped;
- the client's `response.create` continues it: the next Inworld response is its next stream
  (`response.created`, the spoken answer as a `message` item, `response.completed`); a
  `response.create` with no delegation open starts a new one the same way;
- client delegation (lossy): a call of the hidden tool (`proxy.core.live_session.DELEGATE_TOOL`)
  becomes `session.delegation.created {target: "client"}`, and the client's first
  `session.{commentary,thinking}.append` with that `delegation_id` answers the call.

Snapshots follow Live's rule: lifecycle `response` objects carry no input, instructions, tools
or output (openai/types/live/response_event.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proxy.core.live_events import delegation_created, response_event

__all__ = ["Delegations"]

_END_EVENTS = {"completed": "response.completed", "failed": "response.failed"}
_KEEP = 64  # delegations remembered (an answer to an older one is refused)


@dataclass(slots=True)
class _Delegation:
    id: str
    target: str  # "responses" or "client"
    response_id: str | None = None
    calls: dict[str, bool] = field(default_factory=dict)  # call_id -> answered
    sequence: int = 0


def _usage(usage: Any) -> dict[str, Any] | None:
    """Inworld's `response.done` usage as a Responses `ResponseUsage`."""
    if not isinstance(usage, dict):
        return None

    def count(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) and value >= 0 else 0

    details = usage.get("input_token_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return {
        "input_tokens": count("input_tokens"),
        "input_tokens_details": {
            "cached_tokens": cached if isinstance(cached, int) else 0,
            "cache_write_tokens": 0,
        },
        "output_tokens": count("output_tokens"),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": count("total_tokens"),
    }


def _spoken(item: Any) -> str:
    """The text of an Inworld assistant message item (its transcript or text parts)."""
    parts = item.get("content") if isinstance(item, dict) else None
    texts = [
        p.get("transcript") or p.get("text") or ""
        for p in (parts if isinstance(parts, list) else [])
        if isinstance(p, dict)
    ]
    return "".join(t for t in texts if isinstance(t, str))


class Delegations:
    """Delegations of one Live session.

    Args:
        model: the Responses model shown in snapshots (`delegation.responses.model`).
        hidden: the hidden tool's name (client delegation), or None.
        position: the session timeline now, in ms (`offset_ms`).
        wall: Unix seconds (`created_at`).
    """

    def __init__(
        self,
        *,
        model: str,
        hidden: str | None,
        position: Callable[[], int],
        wall: Callable[[], float],
    ) -> None:
        self._model = model
        self._hidden = hidden
        self._position = position
        self._wall = wall
        self._by_id: dict[str, _Delegation] = {}
        self._by_response: dict[str, _Delegation] = {}
        self._by_call: dict[str, _Delegation] = {}
        self._names: dict[str, str] = {}  # call_id -> function name (Inworld may omit it)
        self._next: _Delegation | None = None  # continued by the next Inworld response
        self._requested = False  # the client asked for a response (response.create)

    # -- Inworld -> client -------------------------------------------------------------------

    def response_created(self, response_id: str) -> list[bytes]:
        """Inworld started a response: the continuation of a delegation, if one was asked."""
        if not self._requested:
            return []
        self._requested = False
        out: list[bytes] = []
        delegation, self._next = self._next, None
        if delegation is None:  # response.create with nothing open: a new delegation
            delegation = self._open("responses", response_id)
            out.append(self._created(delegation))
        self._by_response[response_id] = delegation
        out.append(self._envelope(delegation, "response.created", response_id, "in_progress"))
        return out

    def call_added(self, response_id: str | None, item: dict[str, Any]) -> list[bytes]:
        """A function call started (`response.output_item.added`)."""
        call_id, name = item.get("call_id"), item.get("name")
        if not isinstance(call_id, str):
            return []
        if isinstance(name, str):
            self._names[call_id] = name
        if name is not None and name == self._hidden:
            client = self._open("client", None)
            client.calls[call_id] = False
            self._by_call[call_id] = client
            return [self._created(client)]
        out: list[bytes] = []
        delegation = self._by_response.get(response_id or "")
        if delegation is None:
            delegation = self._open("responses", response_id)
            self._by_response[response_id or ""] = delegation
            out.append(self._created(delegation))
            out.append(self._envelope(delegation, "response.created", response_id, "in_progress"))
        delegation.calls[call_id] = False
        self._by_call[call_id] = delegation
        return out

    def call_done(self, item: dict[str, Any]) -> list[bytes]:
        """A function call is complete (`response.output_item.done`): its Responses item."""
        call_id = item.get("call_id")
        delegation = self._by_call.get(call_id) if isinstance(call_id, str) else None
        if delegation is None or delegation.target != "responses" or not isinstance(call_id, str):
            return []
        arguments = item.get("arguments")
        call = {
            "type": "function_call",
            "id": item.get("id") if isinstance(item.get("id"), str) else call_id,
            "call_id": call_id,
            "name": item.get("name") or self._names.get(call_id, ""),
            "arguments": arguments if isinstance(arguments, str) else "",
            "status": "completed",
        }
        return [self._item_done(delegation, call)]

    def response_done(self, response: Any) -> list[bytes]:
        """Inworld finished a response: the end of its stream, if it belongs to a delegation."""
        if not isinstance(response, dict) or not isinstance(response.get("id"), str):
            return []
        delegation = self._by_response.pop(response["id"], None)
        if delegation is None:
            return []
        out = []
        for item in response.get("output") or []:
            text = _spoken(item) if isinstance(item, dict) and item.get("type") == "message" else ""
            if text:
                message = {
                    "type": "message",
                    "id": item.get("id") or f"msg_{uuid.uuid4().hex[:24]}",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
                out.append(self._item_done(delegation, message))
        status = response.get("status")
        status = status if isinstance(status, str) else "completed"
        kind = _END_EVENTS.get(status, "response.incomplete")
        out.append(self._envelope(delegation, kind, response["id"], status, response.get("usage")))
        return out

    # -- client -> Inworld -------------------------------------------------------------------

    def answer(self, call_id: Any) -> bool:
        """The client sent a function call's output; False for a call no delegation has."""
        delegation = self._by_call.get(call_id) if isinstance(call_id, str) else None
        if delegation is None:
            return False
        delegation.calls[call_id] = True
        return True

    def unanswered(self) -> list[str]:
        """Calls of Responses delegations still waiting for their output."""
        return [
            call
            for d in self._by_id.values()
            if d.target == "responses"
            for call, done in d.calls.items()
            if not done
        ]

    def request(self) -> None:
        """The client sent `response.create`: the next Inworld response continues the latest
        delegation whose calls were all answered (or starts a new one)."""
        self._requested = True
        answered = [
            d
            for d in self._by_id.values()
            if d.target == "responses" and d.calls and all(d.calls.values())
        ]
        self._next = answered[-1] if answered else None
        if self._next is not None:
            self._next.calls.clear()  # continued once; later calls open on it again

    def client_answer(self, delegation_id: Any) -> str | None:
        """The open hidden-tool call of a client delegation (None: unknown, or answered)."""
        delegation = self._by_id.get(delegation_id) if isinstance(delegation_id, str) else None
        if delegation is None or delegation.target != "client":
            return None
        for call_id, done in delegation.calls.items():
            if not done:
                delegation.calls[call_id] = True
                return call_id
        return None

    def known(self, delegation_id: Any) -> bool:
        """The id names a delegation of this session."""
        return isinstance(delegation_id, str) and delegation_id in self._by_id

    # -- builders ----------------------------------------------------------------------------

    def _open(self, target: str, response_id: str | None) -> _Delegation:
        delegation = _Delegation(f"delegation_{uuid.uuid4().hex[:24]}", target, response_id)
        self._by_id[delegation.id] = delegation
        for old in list(self._by_id)[:-_KEEP]:
            gone = self._by_id.pop(old)
            for call in gone.calls:
                self._by_call.pop(call, None)
                self._names.pop(call, None)
            for response in [k for k, d in self._by_response.items() if d is gone]:
                del self._by_response[response]
        return delegation

    def _created(self, delegation: _Delegation) -> bytes:
        return delegation_created(
            delegation.id, delegation.target, self._position(), delegation.response_id
        )

    def _next_sequence(self, delegation: _Delegation) -> int:
        delegation.sequence += 1
        return delegation.sequence

    def _envelope(
        self,
        delegation: _Delegation,
        kind: str,
        response_id: str | None,
        status: str,
        usage: Any = None,
    ) -> bytes:
        snapshot: dict[str, Any] = {
            "id": response_id or delegation.response_id or delegation.id,
            "object": "response",
            "created_at": int(self._wall()),
            "model": self._model,
            "status": status,
            "output": [],
            "tools": [],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
        }
        mapped = _usage(usage)
        if mapped is not None:
            snapshot["usage"] = mapped
        event = {"type": kind, "sequence_number": self._next_sequence(delegation)}
        event["response"] = snapshot
        return response_event(delegation.id, event)

    def _item_done(self, delegation: _Delegation, item: dict[str, Any]) -> bytes:
        event = {
            "type": "response.output_item.done",
            "sequence_number": self._next_sequence(delegation),
            "output_index": 0,
            "item": item,
        }
        return response_event(delegation.id, event)

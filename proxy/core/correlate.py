"""Correlation fix-ups real clients depend on (pure): issue 3 item 2,
`docs/protocol-notes.md#openai-server-contract`.

- `response.create.response.metadata` is echoed in `response.created` and `response.done`
  (LiveKit waits for `metadata.client_event_id`). Responses are matched to `response.create`s in
  order; a response the server starts on its own (server VAD) can take the metadata of a
  `response.create` still pending, a documented approximation.
- An upstream `error` without `error.event_id` gets the id of the client event it most likely
  answers: the last `session.update` for `session.*` params, else the last client event.
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["Correlator"]


class Correlator:
    """Per-connection correlation state; methods edit server events in place."""

    def __init__(self) -> None:
        self._pending_metadata: deque[Any] = deque(maxlen=64)
        self._response_metadata: dict[str, Any] = {}
        self._last_event_id: str | None = None
        self._last_session_event_id: str | None = None

    def client_event(self, kind: str, event: dict[str, Any]) -> None:
        """Note a (GA) client event on its way to Inworld."""
        event_id = event.get("event_id")
        if isinstance(event_id, str):
            self._last_event_id = event_id
            if kind == "session.update":
                self._last_session_event_id = event_id
        if kind == "response.create":
            response = event.get("response")
            metadata = response.get("metadata") if isinstance(response, dict) else None
            self._pending_metadata.append(metadata)

    def fix_response(self, kind: str, event: dict[str, Any]) -> bool:
        """Fill `response.metadata` and top-level usage in place; True if changed."""
        changed = False
        response = event.get("response")
        if not isinstance(response, dict):
            return False
        if kind == "response.done" and "usage" in event:
            # Some Inworld builds put usage at the top level
            # (docs/protocol-notes.md#inworld-usage-placement); clients read response.usage.
            usage = event.pop("usage")
            if response.get("usage") is None:
                response["usage"] = usage
            changed = True
        # Echo response.create's metadata (LiveKit waits for metadata.client_event_id).
        response_id = response.get("id")
        if kind == "response.created":
            metadata = self._pending_metadata.popleft() if self._pending_metadata else None
            if isinstance(response_id, str) and metadata is not None:
                self._response_metadata[response_id] = metadata
        else:
            metadata = (
                self._response_metadata.pop(response_id, None)
                if isinstance(response_id, str)
                else None
            )
        if metadata is not None and response.get("metadata") is None:
            response["metadata"] = metadata
            changed = True
        return changed

    def fix_error(self, event: dict[str, Any]) -> bool:
        """Point an upstream error at the client event it answers, when Inworld did not."""
        error = event.get("error")
        if not isinstance(error, dict) or error.get("event_id"):
            return False
        param = error.get("param")
        if isinstance(param, str) and param.startswith("session"):
            event_id = self._last_session_event_id
        else:
            event_id = self._last_event_id
        if event_id is None:
            return False
        error["event_id"] = event_id
        return True

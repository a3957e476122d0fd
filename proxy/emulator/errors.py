"""Recoverable request errors and the ``error`` event that reports them
(docs/protocol-notes.md#inworld-errors).

Handlers raise ``RequestError``; the engine turns it into one ``error`` event carrying the
client's ``event_id`` and keeps the session open, as Inworld does (same section).
"""

from .ids import Event, IdFactory

__all__ = ["RequestError", "error_event"]


class RequestError(ValueError):
    """A client event was rejected; nothing of it was applied."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None,
        param: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        """Record the OpenAI-style ``code`` (may be None) and dotted ``param`` path."""
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.error_type = error_type


def error_event(ids: IdFactory, exc: RequestError, client_event_id: str | None) -> Event:
    """An ``error`` event in the documented shape (docs/protocol-notes.md#inworld-errors)."""
    return ids.event(
        "error",
        error={
            "type": exc.error_type,
            "code": exc.code,
            "message": exc.message,
            "param": exc.param,
            "event_id": client_event_id,
        },
    )

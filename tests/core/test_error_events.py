"""proxy.core.error_events: error event shape and close-code mapping."""

import pytest

from proxy.core.error_events import client_close_code, error_event, upstream_refusal


def test_error_event_shape() -> None:
    """Errors have OpenAI's shape and carry the client's event_id only when it is a string."""
    event = error_event("bad", code="invalid_json", param="session", event_id="evt_1")
    assert event["type"] == "error"
    assert event["event_id"].startswith("event_")
    assert event["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_json",
        "message": "bad",
        "param": "session",
        "event_id": "evt_1",
    }
    assert error_event("x", event_id=5)["error"]["event_id"] is None


@pytest.mark.parametrize(
    ("status", "close", "error_type"),
    [
        (401, 1008, "invalid_request_error"),
        (403, 1008, "invalid_request_error"),
        (429, 1013, "rate_limit_exceeded"),
        (500, 1011, "server_error"),
        (502, 1011, "server_error"),
        (None, 1011, "server_error"),
    ],
)
def test_upstream_refusal_mapping(status: int | None, close: int, error_type: str) -> None:
    """Handshake failures map to an error event and the issue's close codes."""
    event, code, reason = upstream_refusal(status, "detail")
    assert code == close
    assert event["error"]["type"] == error_type
    assert reason
    assert len(reason.encode()) <= 123


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (None, 1000),
        (1000, 1000),
        (1001, 1001),
        (1005, 1000),
        (1006, 1011),
        (1008, 1008),
        (1015, 1011),
        (3000, 3000),
        (4000, 4000),
        (1999, 1011),
        (5000, 1011),
    ],
)
def test_client_close_code(code: int | None, expected: int) -> None:
    """Close codes pass across unless a Close frame may not carry them."""
    assert client_close_code(code) == expected

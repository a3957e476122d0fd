"""proxy.upstream.inworld: the Inworld URL and headers are built from configuration alone."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from proxy.upstream.inworld import new_session_key, session_headers, session_url


def test_session_url_carries_the_key_and_the_protocol() -> None:
    """`?key=<session key>&protocol=realtime` is added to the configured URL."""
    url = session_url("wss://api.inworld.ai/api/v1/realtime/session", "k-1")
    parts = urlsplit(url)
    assert parts.path == "/api/v1/realtime/session"
    assert parse_qs(parts.query) == {"key": ["k-1"], "protocol": ["realtime"]}


def test_session_keys_are_fresh_uuid4s() -> None:
    """One new UUID4 per client connection: two calls never agree."""
    first, second = new_session_key(), new_session_key()
    assert first != second
    assert uuid.UUID(first).version == 4


def test_only_basic_auth_goes_up() -> None:
    """The handshake carries `Authorization: Basic` when a credential is configured, else
    nothing: no client header is ever copied."""
    assert session_headers("abc=") == {"Authorization": "Basic abc="}
    assert session_headers(None) == {}

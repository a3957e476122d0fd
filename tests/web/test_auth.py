"""proxy.web.auth and proxy.web.tokens: credential rules and stateless tokens, no sockets."""

import os

import pytest

from proxy.web.auth import is_loopback_host, key_is_valid, origin_allowed, presented_credential
from proxy.web.tokens import MAX_TOKEN_CHARS, TOKEN_PREFIX, TokenError, mint, verify

SECRET = b"signing-secret"


@pytest.mark.parametrize(
    ("headers", "protocols", "expected"),
    [
        ({"Authorization": "Bearer k1"}, [], "k1"),
        ({"Authorization": "bearer  k1 "}, [], "k1"),
        ({"api-key": "k2"}, [], "k2"),
        ({}, ["realtime", "openai-insecure-api-key.k3"], "k3"),
        ({"Authorization": "Bearer k1", "api-key": "k2"}, ["openai-insecure-api-key.k3"], "k1"),
        ({"Authorization": "Basic abc"}, [], None),
        ({}, ["realtime", "openai-insecure-api-key."], None),
        ({}, [], None),
    ],
)
def test_presented_credential(
    headers: dict[str, str], protocols: list[str], expected: str | None
) -> None:
    """Bearer first, then api-key, then the browser sub-protocol."""
    assert presented_credential(headers, protocols) == expected


def test_key_is_valid() -> None:
    """Only an exact configured key passes."""
    assert key_is_valid("k2", ["k1", "k2"])
    assert not key_is_valid("k", ["k1", "k2"])
    assert not key_is_valid(None, ["k1"])
    assert not key_is_valid("k1", [])


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback_host(host: str, expected: bool) -> None:
    """Loopback addresses and names are recognised; everything else is not."""
    assert is_loopback_host(host) is expected


@pytest.mark.parametrize(
    ("origin", "allowed", "expected"),
    [
        (None, [], True),
        ("http://localhost:5173", [], True),
        ("http://127.0.0.1:8080", [], True),
        ("https://evil.example", [], False),
        ("https://app.example.com", ["https://app.example.com"], True),
        ("https://app.example.com", ["https://app.example.com/"], True),
        ("https://other.example.com", ["https://app.example.com"], False),
        ("https://anything.example", ["*"], True),
    ],
)
def test_origin_allowed(origin: str | None, allowed: list[str], expected: bool) -> None:
    """Loopback pages and listed origins pass; others do not."""
    assert origin_allowed(origin, allowed) is expected


def test_token_round_trip() -> None:
    """A minted token verifies and carries its session until it expires."""
    session = {"type": "realtime", "instructions": "Be brief."}
    token, expires_at = mint(SECRET, session, ttl=60, now=1000.0)
    assert token.startswith(TOKEN_PREFIX)
    assert expires_at == 1060
    assert "=" not in token  # valid inside a WebSocket sub-protocol
    claims = verify(SECRET, token, now=1059.0)
    assert claims.session == session
    with pytest.raises(TokenError, match="expired"):
        verify(SECRET, token, now=1060.0)


def test_token_forgery_is_refused() -> None:
    """Another secret, a changed payload or garbage never verify."""
    token, _ = mint(SECRET, None, ttl=60, now=0)
    with pytest.raises(TokenError, match="signature"):
        verify(b"other", token, now=1)
    payload, signature = token.split(".")
    with pytest.raises(TokenError, match="signature"):
        verify(SECRET, payload[:-2] + "AA." + signature, now=1)
    for junk in ("sk-123", "ek_p1_", "ek_p1_a.b.c"):
        with pytest.raises(TokenError):
            verify(SECRET, junk, now=1)


def test_token_size_limit() -> None:
    """A session too large for a header is refused when minting."""
    big = {"instructions": os.urandom(MAX_TOKEN_CHARS).hex()}
    with pytest.raises(TokenError, match="too large"):
        mint(SECRET, big, ttl=60, now=0)

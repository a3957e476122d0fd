"""proxy.web.auth and proxy.web.tokens: credential rules and stateless tokens, no sockets."""

import os

import pytest

from proxy.config import load
from proxy.web.auth import (
    credential_well_formed,
    host_allowed,
    is_loopback_host,
    key_is_valid,
    origin_allowed,
    presented_credential,
)
from proxy.web.caps import SessionCaps, key_owner, owner_cap, pinned_session, token_owner
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


# -- issue 18: nothing a client sends makes these raise -------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("sk-abc_DEF.123~+/=", True),
        ("ek_p1_abc.sig", True),
        ("ek_p1_abc.\xc3\xa9", False),
        ("k1\udcff", False),  # aiohttp's surrogateescape for a non-UTF-8 byte
        ("two words", False),
        ("tab\there", False),
        ("", True),
    ],
)
def test_credential_well_formed(value: str, ok: bool) -> None:
    """Visible ASCII only."""
    assert credential_well_formed(value) is ok


def test_key_check_and_token_verify_never_raise_on_odd_text() -> None:
    """Undecodable bytes and non-ASCII never raise (they were 500s: issue 18)."""
    assert key_is_valid("k1\udcff", ["k1secretkey", "odd\udc80key"]) is False
    assert key_is_valid("odd\udc80key", ["odd\udc80key"]) is True
    for token in ("ek_p1_abc.\xc3\xa9", "ek_p1_\u00e9.x", "ek_p1_a.b\udcff"):
        with pytest.raises(TokenError):
            verify(SECRET, token, now=0)


def test_unparsable_origin_is_not_allowed() -> None:
    """`http://[zz` was a ValueError (500); it is an origin like any unknown one."""
    assert origin_allowed("http://[zz", []) is False
    assert origin_allowed("http://[zz", ["*"]) is True


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        (None, True),
        ("localhost:8080", True),
        ("app.localhost", True),
        ("127.0.0.1:8080", True),
        ("[::1]:8080", True),
        ("10.0.0.7:8080", True),  # an address: never a rebinding name
        ("proxy.lan", True),  # the listen address
        ("api.example", True),  # server.allowed_hosts, any case below
        ("API.Example.", True),
        ("evil.example", False),
        ("evil.example@127.0.0.1", False),
        ("127.0.0.1/x", False),
        ("[zz", False),
        ("host:notaport", False),
        ("", False),
        ("\u00e9.example", False),
    ],
)
def test_host_allowed(host: str | None, allowed: bool) -> None:
    """Loopback, addresses, the listen host and allowed names; nothing that does not parse."""
    assert host_allowed(host, "proxy.lan", ["api.example"]) is allowed


def test_session_caps_and_owners() -> None:
    """A token holds at most tokens.max_sessions live sessions; a key its own cap (0: none)."""
    cfg = load(None, {})
    caps = SessionCaps()
    token, key = token_owner("sig1"), key_owner("sk-some-key")
    assert "sk-some-key" not in key  # the key itself is not kept
    assert owner_cap(cfg, token) == 1
    assert owner_cap(cfg, key) == 0
    assert caps.acquire(token, 1)
    assert not caps.acquire(token, 1)
    assert caps.acquire(token_owner("sig2"), 1)  # another token
    for _ in range(5):
        assert caps.acquire(key, 0)
    caps.release(token)
    assert caps.live(token) == 0
    assert caps.acquire(token, 1)


def test_pinned_session_prefers_the_tokens_model() -> None:
    """A token's model wins over ?model=; a token without one pins the ?model= it came with;
    no token: nothing pinned."""
    token = token_owner("sig")
    assert pinned_session(token, {"model": "gpt-realtime-mini"}, "gpt-realtime") == (
        {"model": "gpt-realtime-mini"},
        "gpt-realtime-mini",
    )
    assert pinned_session(token, {"instructions": "x"}, "gpt-realtime") == (
        {"instructions": "x", "model": "gpt-realtime"},
        "gpt-realtime",
    )
    assert pinned_session(key_owner("k"), {"model": "m"}, "gpt-realtime") == (None, "gpt-realtime")
    assert pinned_session(None, None, None) == (None, None)

"""Handshake credential rules, without sockets (docs/protocol-notes.md#inworld-authentication)."""

import base64

import pytest

from proxy.emulator import AuthError, EmulatorSettings, authenticate
from proxy.emulator.auth import parse_subprotocols, select_subprotocol

KEY = base64.b64encode(b"id:secret").decode()
OPEN = EmulatorSettings()
PAIR = EmulatorSettings(api_key="id", api_secret="secret")


@pytest.mark.parametrize(
    ("authorization", "scheme"),
    [(f"Basic {KEY}", "basic"), (f"bearer {KEY}", "bearer"), ("Bearer aaa.bbb.ccc", "bearer")],
)
def test_open_mode_accepts_well_formed(authorization: str, scheme: str) -> None:
    """With no configured key any well-formed Basic/Bearer credential passes."""
    assert authenticate(authorization, (), OPEN).scheme == scheme


def test_header_wins_over_subprotocol() -> None:
    """A wrong Authorization header is refused even with a good basic_ offer."""
    offer = ("basic_" + KEY.rstrip("="),)
    assert authenticate(None, offer, PAIR).scheme == "subprotocol"
    with pytest.raises(AuthError):
        authenticate("Basic " + base64.b64encode(b"id:nope").decode(), offer, PAIR)


def test_error_messages_never_contain_the_credential() -> None:
    """AuthError messages are safe to return to the client."""
    with pytest.raises(AuthError) as info:
        authenticate("Basic " + base64.b64encode(b"id:nope").decode(), (), PAIR)
    assert "nope" not in info.value.message
    assert base64.b64encode(b"id:nope").decode() not in info.value.message


def test_secret_without_key_is_a_settings_error() -> None:
    """api_secret alone cannot be used and is rejected at construction."""
    with pytest.raises(ValueError, match="api_secret"):
        EmulatorSettings(api_secret="secret")


def test_subprotocol_selection() -> None:
    """The first basic_ offer is echoed, else realtime, else nothing."""
    offered = parse_subprotocols(" realtime , basic_abc,basic_def ")
    assert offered == ("realtime", "basic_abc", "basic_def")
    assert select_subprotocol(offered) == "basic_abc"
    assert select_subprotocol(("realtime",)) == "realtime"
    assert select_subprotocol(("openai-insecure-api-key.sk-x",)) is None

"""proxy.upstream.openai: the pass-through handshake (URL, key choice, headers)."""

from __future__ import annotations

import dataclasses

import pytest

from proxy.config import load
from proxy.upstream.inworld import UpstreamRefused
from proxy.upstream.openai import connect_openai, openai_headers, openai_key, openai_url

OPENAI = load(None, {"OPENAI_API_KEY": "sk-proxy"}).openai


def test_url_has_the_model_and_the_intent() -> None:
    """`?model=` always (when known), `&intent=` only for transcription sessions."""
    assert openai_url(OPENAI, "gpt-realtime").endswith("/v1/realtime?model=gpt-realtime")
    url = openai_url(OPENAI, "gpt-realtime", "transcription")
    assert url.endswith("?model=gpt-realtime&intent=transcription")
    assert openai_url(OPENAI, "") == OPENAI.url


def test_the_proxys_key_unless_forwarding_is_on() -> None:
    """OPENAI_API_KEY by default; the client's own key only with `forward_client_key`."""
    assert openai_key(OPENAI, "sk-client") == "sk-proxy"
    forwarding = dataclasses.replace(OPENAI, forward_client_key=True)
    assert openai_key(forwarding, "sk-client") == "sk-client"
    assert openai_key(forwarding, None) == "sk-proxy"


def test_only_the_beta_header_is_passed_on() -> None:
    """Bearer key, plus `OpenAI-Beta` when the client sent it (it selects the dialect)."""
    assert openai_headers("sk-x", None) == {"Authorization": "Bearer sk-x"}
    assert openai_headers("sk-x", "realtime=v1") == {
        "Authorization": "Bearer sk-x",
        "OpenAI-Beta": "realtime=v1",
    }


async def test_no_key_is_a_refusal_before_any_connection() -> None:
    """Without any key the dial is refused at once, naming the variable."""
    keyless = dataclasses.replace(OPENAI, api_key=None, url="ws://127.0.0.1:9/v1/realtime")
    with pytest.raises(UpstreamRefused, match="OPENAI_API_KEY"):
        await connect_openai(
            keyless,
            model="gpt-realtime",
            intent=None,
            beta_header=None,
            client_key=None,
            max_msg_size=1 << 20,
        )

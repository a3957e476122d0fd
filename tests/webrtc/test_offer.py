"""proxy.webrtc.sdp and proxy.webrtc.offer: offer checks and the request forms (pure)."""

from __future__ import annotations

import pytest

from proxy.webrtc.offer import RequestError, read_offer
from proxy.webrtc.sdp import CALL_ID, OfferError, check_offer, new_call_id

OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "a=fingerprint:sha-256 AA:BB\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\na=sctp-port:5000\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
)


def test_a_browser_like_offer_passes() -> None:
    summary = check_offer(OFFER)
    assert summary.audio_codecs == ("opus", "pcmu")
    assert summary.candidates == 0


@pytest.mark.parametrize(
    ("sdp", "words"),
    [
        ("", "not an SDP offer"),
        (OFFER.replace("m=audio", "m=video"), "no audio m-line"),
        (OFFER.replace("opus/48000/2", "PCMA/8000"), "does not offer Opus"),
        (OFFER.replace("webrtc-datachannel", "x"), "no data channel"),
        (OFFER.replace("a=ice-ufrag", "a=x"), "ICE credentials"),
        (OFFER.replace("a=fingerprint", "a=x"), "DTLS fingerprint"),
    ],
)
def test_unusable_offers(sdp: str, words: str) -> None:
    with pytest.raises(OfferError, match=words):
        check_offer(sdp)


def test_call_ids() -> None:
    ids = {new_call_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(CALL_ID.match(i) for i in ids)


def multipart(*parts: tuple[str, str, str | None]) -> tuple[str, bytes]:
    body = b""
    for name, value, kind in parts:
        body += f'--XyZ\r\nContent-Disposition: form-data; name="{name}"\r\n'.encode()
        if kind:
            body += f"Content-Type: {kind}\r\n".encode()
        body += b"\r\n" + value.encode() + b"\r\n"
    return "multipart/form-data; boundary=XyZ", body + b"--XyZ--\r\n"


def test_forms() -> None:
    """Raw SDP, multipart with and without part types (codex-rs / FormData.set), lenient JSON;
    the offer's bytes are kept exactly."""
    assert read_offer("application/sdp", OFFER.encode()).sdp == OFFER
    session = '{"type": "realtime", "model": "gpt-realtime"}'
    for kind in ("application/sdp", None):
        offer = read_offer(*multipart(("sdp", OFFER, kind), ("session", session, kind)))
        assert offer.sdp == OFFER
        assert offer.session == {"type": "realtime", "model": "gpt-realtime"}
    offer = read_offer(*multipart(("sdp", OFFER, None)))
    assert offer.session is None
    offer = read_offer("application/json; charset=utf-8", b'{"sdp": "v=0", "session": {}}')
    assert (offer.sdp, offer.session) == ("v=0", {})


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        ("text/plain", b"x", "unsupported_content_type"),
        ("application/json", b"[", "invalid_json"),
        ("application/json", b"[]", "invalid_offer"),
        ("application/sdp", b"\xff\xfe", "invalid_offer"),
        ("multipart/form-data; boundary=XyZ", b"garbage", "invalid_offer"),
        (*multipart(("session", "{}", None)), "invalid_offer"),
        (*multipart(("sdp", OFFER, None), ("session", "nope", None)), "invalid_session"),
        ("application/sdp", b"v" * (1024 * 1024 + 1), "invalid_offer"),
    ],
)
def test_bad_forms(content_type: str, body: bytes, code: str) -> None:
    with pytest.raises(RequestError) as caught:
        read_offer(content_type, body)
    assert caught.value.code == code

"""Offer checks and call ids for WebRTC signalling (pure: no aiortc, no I/O).

`check_offer` refuses, before any WebRTC machinery runs, the offers the bridge cannot serve:
not SDP at all, no audio m-line, no Opus on it, no data channel (`m=application ...
webrtc-datachannel`), no ICE credentials or DTLS fingerprint. What an OpenAI WebRTC client
offers, and the `400 invalid_offer` answer OpenAI gives a bad one, are in
docs/protocol-notes.md#openai-webrtc-signalling. The offer itself is never rewritten: it goes
to aiortc byte for byte.

`new_call_id` mints OpenAI-style call ids (`rtc_` + 32 hex digits): clients take the last path
segment of `Location`, and one (codex) insists that it starts with `rtc_`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

__all__ = ["CALL_ID", "MAX_OFFER_BYTES", "OfferError", "OfferSummary", "check_offer", "new_call_id"]

MAX_OFFER_BYTES = 65536  # browsers' offers are 2-8 KB; aiortc parses whatever it is given
CALL_ID = re.compile(r"^rtc_[0-9a-f]{32}$")
_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9_.-]+)/(\d+)", re.M)


class OfferError(ValueError):
    """The offer cannot be served; `str(error)` is the message for the client (never a secret:
    it names what is missing, not what was sent)."""


@dataclass(frozen=True, slots=True)
class OfferSummary:
    """What a checked offer asks for (for the call's log line)."""

    audio_codecs: tuple[str, ...]  # lower-case codec names on the first audio m-line
    candidates: int  # ICE candidates in the offer (0 for browsers: no trickle, no wait)


def new_call_id() -> str:
    """A fresh call id, `rtc_<32 hex>`."""
    return f"rtc_{uuid.uuid4().hex}"


def _sections(sdp: str) -> tuple[str, list[str]]:
    """The session part and the media sections (each starting with its `m=` line)."""
    parts = re.split(r"(?m)^(?=m=)", sdp)
    return parts[0], parts[1:]


def check_offer(sdp: str) -> OfferSummary:
    """Check an SDP offer for what a call needs.

    Raises:
        OfferError: it is too large, not SDP, or lacks an audio m-line with Opus, a
            data channel, ICE credentials or a DTLS fingerprint.
    """
    if len(sdp.encode()) > MAX_OFFER_BYTES:
        raise OfferError(f"The SDP offer is larger than {MAX_OFFER_BYTES} bytes.")
    text = sdp.replace("\r\n", "\n")
    if not text.lstrip().startswith("v=0"):
        raise OfferError("The request body is not an SDP offer (it must start with 'v=0').")
    session, media = _sections(text)
    audio = [m for m in media if m.startswith("m=audio ")]
    if not audio:
        raise OfferError("The SDP offer has no audio m-line (m=audio).")
    codecs = tuple(name.lower() for _, name, _ in _RTPMAP.findall(audio[0]))
    if "opus" not in codecs:
        raise OfferError("The SDP offer's audio m-line does not offer Opus (opus/48000/2).")
    if not any(m.startswith("m=application ") and "webrtc-datachannel" in m for m in media):
        raise OfferError(
            "The SDP offer has no data channel (m=application ... webrtc-datachannel): "
            "create the 'oai-events' channel before the offer."
        )
    for attribute, what in (
        ("a=ice-ufrag:", "ICE credentials (a=ice-ufrag)"),
        ("a=ice-pwd:", "ICE credentials (a=ice-pwd)"),
        ("a=fingerprint:", "a DTLS fingerprint (a=fingerprint)"),
    ):
        if attribute not in session and not all(attribute in m for m in audio):
            raise OfferError(f"The SDP offer has no {what}.")
    return OfferSummary(audio_codecs=codecs, candidates=text.count("\na=candidate:"))

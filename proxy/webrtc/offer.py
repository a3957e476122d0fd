"""The body of a call request, in each form OpenAI's clients send it (pure: no I/O).

`POST /v1/realtime/calls` (docs/protocol-notes.md#openai-webrtc-signalling) takes:

- `Content-Type: application/sdp`: the offer alone (the session comes from the ephemeral key);
- `multipart/form-data` with a part `sdp` (the offer; with or without its own content type)
  and an optional part `session` (a GA session object, JSON);
- leniently, `application/json` `{"sdp": ..., "session": ...}` (older SDK builds, Inworld's
  own form).

The offer's text is kept exactly as received (re-serialising an offer has broken clients).
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass
from typing import Any

import orjson

from proxy.webrtc.sdp import MAX_OFFER_BYTES

__all__ = ["MAX_BODY_BYTES", "Offer", "RequestError", "read_offer"]

MAX_BODY_BYTES = 1024 * 1024  # an offer (< 64 KiB) and a session config with tools


class RequestError(ValueError):
    """The request cannot carry a call; `code` is the OpenAI error code for the 400 answer."""

    def __init__(self, message: str, code: str = "invalid_offer") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Offer:
    """The SDP offer and the session config the request carried (None: none)."""

    sdp: str
    session: dict[str, Any] | None = None


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(f"The {what} is not UTF-8 text.") from None


def _session(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, bytes | str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RequestError("The 'session' part is not valid JSON.", "invalid_session") from None
    if not isinstance(value, dict):
        raise RequestError("The 'session' part must be a JSON object.", "invalid_session")
    return value


def _multipart(content_type: str, body: bytes) -> Offer:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise RequestError("The multipart body has no parts (is the boundary right?).")
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes) and name not in parts:
            parts[name] = payload
    if "sdp" not in parts:
        raise RequestError("The multipart body has no 'sdp' part.")
    return Offer(_text(parts["sdp"], "'sdp' part"), _session(parts.get("session")))


def read_offer(content_type: str, body: bytes) -> Offer:
    """The offer (and session) in a request body of type `content_type` (the full header).

    Raises:
        RequestError: an unsupported content type, or a body that carries no offer.
    """
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/sdp":
        offer = Offer(_text(body, "SDP offer"))
    elif kind == "multipart/form-data":
        offer = _multipart(content_type, body)
    elif kind == "application/json":
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise RequestError("The request body is not valid JSON.", "invalid_json") from None
        sdp = data.get("sdp") if isinstance(data, dict) else None
        if not isinstance(sdp, str):
            raise RequestError("The JSON body has no 'sdp' string.")
        offer = Offer(sdp, _session(data.get("session")))
    else:
        raise RequestError(
            "Send the SDP offer as application/sdp, or as multipart/form-data with parts "
            "'sdp' and (optionally) 'session'.",
            "unsupported_content_type",
        )
    if len(offer.sdp.encode()) > MAX_OFFER_BYTES:
        raise RequestError(f"The SDP offer is larger than {MAX_OFFER_BYTES} bytes.")
    return offer

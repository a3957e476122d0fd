"""The emulated Inworld voices API: a pure ``VoiceStore`` plus its aiohttp routes.

Shapes follow docs/protocol-notes.md#inworld-voices-api (Inworld's list-voices, get-voice,
delete-voice and clone-voice reference pages):

- ``GET /voices/v1/voices?filter=…&orderBy=display_name asc&pageSize=N&pageToken=T`` →
  ``{voices, totalSize, nextPageToken}`` (the token is left out on the last page). System voices
  (``catalog.SYSTEM_VOICES``) plus the voices cloned here (``source: "IVC"``);
- ``GET`` / ``DELETE /voices/v1/voices/{voiceId}`` → the voice / ``{}``;
- ``POST /voices/v1/voices:clone`` → ``{voice, audioSamplesValidated}``; each sample is checked
  by ``samples.check_sample``. A sample with errors fails the clone: 200 with the entries and no
  ``voice`` (Inworld's own tool treats such a reply as a failure). A ``displayName`` already
  used by a cloned voice is 409; a malformed request 400;
- the older ``/voices/v1/workspaces/{workspace}/voices…`` paths serve the same (the workspace in
  the path is not checked).

Credentials are checked like the realtime endpoint (``auth.authenticate``). Errors use Google's
``rpcStatus`` body ``{code, message, details}``. Tests read ``app[VOICES_REQUESTS]``.
"""

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import hdrs, web

from .auth import AuthError, authenticate
from .catalog import SYSTEM_VOICES, SystemVoice
from .samples import check_sample
from .settings import EmulatorSettings
from .voice_filter import FilterError, parse_filter

__all__ = [
    "LANG_CODES",
    "VOICES_PATH",
    "VOICES_REQUESTS",
    "VOICE_STORE",
    "VoiceApiError",
    "VoiceRequest",
    "VoiceStore",
    "add_voice_routes",
]

VOICES_PATH = "/voices/v1/voices"
LANG_CODES = (
    "EN_US", "ZH_CN", "KO_KR", "JA_JP", "RU_RU", "AUTO", "IT_IT", "ES_ES", "PT_BR", "DE_DE",
    "FR_FR", "AR_SA", "PL_PL", "NL_NL", "HI_IN", "HE_IL",
)  # fmt: skip
_GRPC = {400: (3, "INVALID_ARGUMENT"), 401: (16, "UNAUTHENTICATED"), 403: (7, "PERMISSION_DENIED"),
         404: (5, "NOT_FOUND"), 409: (6, "ALREADY_EXISTS")}  # fmt: skip
_DEFAULT_PAGE, _MAX_PAGE = 50, 2000
_TOKEN = re.compile(r"([0-9]+)-([0-9]+)")


class VoiceApiError(Exception):
    """A refused call: ``status`` is the HTTP status, ``message`` the body's ``message``."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the HTTP status and the message."""
        super().__init__(message)
        self.status = status
        self.message = message


def _system_json(voice: SystemVoice) -> dict[str, Any]:
    return {
        "name": f"workspaces/inworld/voices/{voice.voice_id}",
        "voiceId": voice.voice_id,
        "langCode": voice.lang_code,
        "displayName": voice.voice_id,
        "description": voice.description,
        "tags": list(voice.tags),
        "categories": list(voice.categories),
        "source": "SYSTEM",
        "gender": voice.gender,
        "ageGroup": voice.age_group,
        "promptLanguages": [_bcp47(voice.lang_code)],
    }


def _bcp47(lang_code: str) -> str:
    language, _, region = lang_code.partition("_")
    return f"{language.lower()}-{region}" if region else language.lower()


def _slug(name: str) -> str:
    """The voice part of a cloned id: lower case, every other character ``_`` (how Inworld maps
    spaces and non-ASCII is not documented)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "voice"


class VoiceStore:
    """The voices one emulated workspace sees: the system catalogue and its cloned voices."""

    def __init__(
        self, workspace: str, *, transcript: str, clock: Callable[[], float] = time.time
    ) -> None:
        """``transcript`` is what the fake recogniser "hears" in a sample without one."""
        self.workspace = workspace
        self._transcript = transcript
        self._clock = clock
        self._voices: dict[str, dict[str, Any]] = {
            v.voice_id: _system_json(v) for v in SYSTEM_VOICES
        }

    def has(self, voice_id: str) -> bool:
        """Whether ``voice_id`` is a voice of this store (system or cloned)."""
        return voice_id in self._voices

    def list(self, query: Mapping[str, str]) -> dict[str, Any]:
        """One page of the list for the query parameters ``filter``, ``orderBy``,
        ``pageSize``, ``pageToken``. Without any of them: every voice, up to 2,000.

        Raises:
            VoiceApiError: 400 for a bad filter, order, page size or page token.
        """
        voices = list(self._voices.values())
        if query.get("filter"):
            try:
                keep = parse_filter(query["filter"])
            except FilterError as exc:
                raise VoiceApiError(400, str(exc)) from None
            voices = [v for v in voices if keep(v)]
        order = " ".join(query.get("orderBy", "").lower().split())
        if order in ("display_name", "display_name asc", "display_name desc"):
            voices.sort(key=lambda v: str(v["displayName"]).lower(), reverse=order.endswith("desc"))
        elif order:
            raise VoiceApiError(400, f"Invalid orderBy '{query['orderBy']}'.")
        size = _page_size(query.get("pageSize"), paged="pageToken" in query)
        start = _page_start(query.get("pageToken"))
        out: dict[str, Any] = {"voices": voices[start : start + size], "totalSize": len(voices)}
        if start + size < len(voices):
            out["nextPageToken"] = f"{start // size + 1}-{size}"
        return out

    def get(self, voice_id: str) -> dict[str, Any]:
        """The voice object. Raises ``VoiceApiError`` 404 for an unknown id."""
        if voice_id not in self._voices:
            raise VoiceApiError(404, f"Voice '{voice_id}' not found.")
        return self._voices[voice_id]

    def delete(self, voice_id: str) -> None:
        """Delete a cloned voice. Raises ``VoiceApiError``: 404 unknown, 403 system voice."""
        if self.get(voice_id)["source"] == "SYSTEM":
            raise VoiceApiError(403, f"Voice '{voice_id}' is a system voice and cannot be deleted.")
        del self._voices[voice_id]

    def clone(self, body: Any) -> dict[str, Any]:
        """Answer a ``voices:clone`` request (see the module docstring).

        Raises:
            VoiceApiError: 400 malformed request, 409 name already used by a cloned voice.
        """
        name, lang, samples = _clone_fields(body)
        if any(v["source"] == "IVC" and v["displayName"] == name for v in self._voices.values()):
            raise VoiceApiError(409, f"A voice with displayName '{name}' already exists.")
        entries = []
        for sample in samples:
            verdict = check_sample(sample["audioData"])
            text = sample.get("transcription") or self._transcript
            entries.append(verdict.entry(lang, text, sample["audioData"]))
        if any(entry["errors"] for entry in entries):
            return {"audioSamplesValidated": entries}
        stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(self._clock()))
        local = f"{_slug(name)}_{stamp}z"
        while f"{self.workspace}__{local}" in self._voices:
            local += "_"
        voice = {
            "name": f"workspaces/{self.workspace}/voices/{local}",
            "voiceId": f"{self.workspace}__{local}",
            "langCode": lang,
            "displayName": name,
            "description": body.get("description", ""),
            "tags": list(body.get("tags", [])),
            "categories": [],
            "source": "IVC",
            "gender": "",
            "ageGroup": "",
            "promptLanguages": [] if lang == "AUTO" else [_bcp47(lang)],
        }
        self._voices[voice["voiceId"]] = voice
        return {"voice": voice, "audioSamplesValidated": entries}


def _page_size(raw: str | None, *, paged: bool) -> int:
    if raw is None:
        return _DEFAULT_PAGE if paged else _MAX_PAGE
    if not raw.isdigit() or int(raw) == 0:
        raise VoiceApiError(400, f"Invalid pageSize '{raw}': expected a positive integer.")
    return min(int(raw), _MAX_PAGE)


def _page_start(raw: str | None) -> int:
    if not raw:
        return 0
    match = _TOKEN.fullmatch(raw)
    if match is None or int(match[2]) == 0:
        raise VoiceApiError(400, f"Invalid pageToken '{raw}'.")
    return int(match[1]) * int(match[2])


def _clone_fields(body: Any) -> tuple[str, str, list[dict[str, Any]]]:
    if not isinstance(body, dict):
        raise VoiceApiError(400, "The request body must be a JSON object.")
    name, lang, samples = body.get("displayName"), body.get("langCode"), body.get("voiceSamples")
    if not isinstance(name, str) or not name.strip():
        raise VoiceApiError(400, "displayName is required.")
    if lang not in LANG_CODES:
        raise VoiceApiError(400, f"Invalid langCode {lang!r}.")
    if not isinstance(samples, list) or not samples:
        raise VoiceApiError(400, "voiceSamples must hold at least one sample.")
    for sample in samples:
        if not isinstance(sample, dict) or not isinstance(sample.get("audioData"), str):
            raise VoiceApiError(400, "Each voice sample needs audioData (base64 audio).")
        if not isinstance(sample.get("transcription", ""), str):
            raise VoiceApiError(400, "transcription must be a string.")
    if not isinstance(body.get("description", ""), str):
        raise VoiceApiError(400, "description must be a string.")
    tags = body.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise VoiceApiError(400, "tags must be a list of strings.")
    return name, lang, samples


# -- aiohttp routes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoiceRequest:
    """One request the voices API received (credential-checked or not)."""

    method: str
    path: str
    query: dict[str, str]


VOICE_STORE = web.AppKey("emulator_voice_store", VoiceStore)
VOICES_REQUESTS = web.AppKey("emulator_voices_requests", list[VoiceRequest])
_SETTINGS = web.AppKey("emulator_voices_settings", EmulatorSettings)


def add_voice_routes(app: web.Application, settings: EmulatorSettings, store: VoiceStore) -> None:
    """Serve the voices API (both path forms) from ``store`` on the emulator's application."""
    app[_SETTINGS] = settings
    app[VOICE_STORE] = store
    app[VOICES_REQUESTS] = []
    for base in (VOICES_PATH, "/voices/v1/workspaces/{workspace}/voices"):
        app.router.add_get(base, _list)
        app.router.add_post(base + ":clone", _clone)
        app.router.add_get(base + "/{voice_id}", _get)
        app.router.add_delete(base + "/{voice_id}", _delete)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: orjson.dumps(o).decode())


def _status(exc: VoiceApiError) -> web.Response:
    code, _ = _GRPC.get(exc.status, (2, "UNKNOWN"))
    return _json({"code": code, "message": exc.message, "details": []}, exc.status)


def _admit(request: web.Request) -> VoiceStore:
    """Record the request and check its credential (raises ``VoiceApiError`` 401)."""
    request.app[VOICES_REQUESTS].append(
        VoiceRequest(request.method, request.path, dict(request.query))
    )
    try:
        authenticate(request.headers.get(hdrs.AUTHORIZATION), (), request.app[_SETTINGS])
    except AuthError as exc:
        raise VoiceApiError(401, exc.message) from None
    return request.app[VOICE_STORE]


async def _list(request: web.Request) -> web.Response:
    try:
        return _json(_admit(request).list(request.query))
    except VoiceApiError as exc:
        return _status(exc)


async def _get(request: web.Request) -> web.Response:
    try:
        return _json(_admit(request).get(request.match_info["voice_id"]))
    except VoiceApiError as exc:
        return _status(exc)


async def _delete(request: web.Request) -> web.Response:
    try:
        _admit(request).delete(request.match_info["voice_id"])
    except VoiceApiError as exc:
        return _status(exc)
    return _json({})


async def _clone(request: web.Request) -> web.Response:
    try:
        store = _admit(request)
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise VoiceApiError(400, "The request body is not valid JSON.") from None
        return _json(store.clone(body))
    except VoiceApiError as exc:
        return _status(exc)

"""The emulated voices API over loopback HTTP: list (filter, order, pages), get, delete, clone
(validation in audioSamplesValidated, 409 for a taken name), and cloned voices in sessions."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from proxy.emulator import EMULATOR_PATH, EmulatorSettings, create_emulator_app
from proxy.emulator.catalog import KNOWN_VOICES
from proxy.emulator.voice_filter import FilterError, parse_filter
from proxy.emulator.voices import VOICES_PATH, VOICES_REQUESTS
from tests.support.samples import mp3_bytes, wav_bytes

KEY, SECRET = "key-id", "s3cret"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()}
MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(aiohttp_client: Any) -> MakeClient:
    async def make(**overrides: Any) -> TestClient[Any, Any]:
        settings = EmulatorSettings(api_key=KEY, api_secret=SECRET, ping_interval=0, **overrides)
        client: TestClient[Any, Any] = await aiohttp_client(create_emulator_app(settings))
        return client

    return make


async def call(
    client: TestClient[Any, Any], method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    kwargs.setdefault("headers", BASIC)
    async with client.request(method, path, **kwargs) as response:
        return response.status, orjson.loads(await response.read())


def clone_body(name: str, audio: bytes, **extra: Any) -> dict[str, Any]:
    sample = {"audioData": base64.b64encode(audio).decode()}
    return {"displayName": name, "langCode": "EN_US", "voiceSamples": [sample], **extra}


async def test_list_without_parameters_is_the_whole_catalogue(make_client: MakeClient) -> None:
    """No parameters: every system voice in Inworld's shape, with the total."""
    client = await make_client()
    status, body = await call(client, "GET", VOICES_PATH)
    assert status == 200
    assert {v["voiceId"] for v in body["voices"]} == KNOWN_VOICES
    assert body["totalSize"] == len(KNOWN_VOICES)
    assert "nextPageToken" not in body
    alex = next(v for v in body["voices"] if v["voiceId"] == "Alex")
    assert alex == {
        "name": "workspaces/inworld/voices/Alex",
        "voiceId": "Alex",
        "langCode": "EN_US",
        "displayName": "Alex",
        "description": "Energetic and expressive mid-range male voice",
        "tags": ["friendly", "expressive"],
        "categories": ["companions"],
        "source": "SYSTEM",
        "gender": "male",
        "ageGroup": "middle_aged",
        "promptLanguages": ["en-US"],
    }


async def test_pages_follow_next_page_token(make_client: MakeClient) -> None:
    """pageSize cuts the list; nextPageToken (absent on the last page) walks it whole."""
    client = await make_client()
    seen: list[str] = []
    params = {"pageSize": "5", "orderBy": "display_name asc"}
    tokens = []
    while True:
        status, page = await call(client, "GET", VOICES_PATH, params=params)
        assert status == 200
        assert len(page["voices"]) <= 5
        assert page["totalSize"] == len(KNOWN_VOICES)
        seen += [v["voiceId"] for v in page["voices"]]
        if "nextPageToken" not in page:
            break
        tokens.append(page["nextPageToken"])
        params = {**params, "pageToken": page["nextPageToken"]}
    assert tokens[0] == "1-5"
    assert len(tokens) == 4
    assert seen == sorted(KNOWN_VOICES, key=str.lower)
    status, body = await call(client, "GET", VOICES_PATH, params={"pageToken": "x"})
    assert (status, body["code"]) == (400, 3)


@pytest.mark.parametrize(
    ("expression", "count"),
    [
        ('source = "SYSTEM" AND lang_code = "en"', 22),
        ('source = "SYSTEM" AND lang_code = "en-US"', 22),
        ('lang_code = "EN_US"', 22),
        ('lang_code = "de"', 0),
        ('source = "IVC"', 0),
        ('source = "SYSTEM" and (lang_code = "de" OR lang_code = "en_US")', 22),
    ],
)
async def test_filter(make_client: MakeClient, expression: str, count: int) -> None:
    """The documented filter forms (BCP-47, underscore, prefix; AND, OR, parentheses)."""
    client = await make_client()
    status, body = await call(client, "GET", VOICES_PATH, params={"filter": expression})
    assert status == 200
    assert (len(body["voices"]), body["totalSize"]) == (count, count)


@pytest.mark.parametrize(
    "expression", ['gender = "male"', "source = SYSTEM", '(source = "IVC"', 'source "IVC"']
)
def test_bad_filters_are_refused(expression: str) -> None:
    """Unknown fields and malformed expressions are errors, not silently ignored."""
    with pytest.raises(FilterError):
        parse_filter(expression)


async def test_credentials_are_checked(make_client: MakeClient) -> None:
    """No or a wrong credential: 401 in Google's rpcStatus shape."""
    client = await make_client()
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"key-id:no").decode()}):
        status, body = await call(client, "GET", VOICES_PATH, headers=headers)
        assert status == 401
        assert body["code"] == 16
        assert body["details"] == []


async def test_clone_get_list_delete(make_client: MakeClient) -> None:
    """A 6 s WAV clones into an IVC voice `<workspace>__<name>_<time>z`, listed, fetched by id
    (both path forms), deleted once (404 after); system voices cannot be deleted."""
    client = await make_client(workspace="acme")
    status, body = await call(
        client, "POST", VOICES_PATH + ":clone", json=clone_body("My Narrator", wav_bytes(6))
    )
    assert status == 200
    voice = body["voice"]
    assert voice["voiceId"].startswith("acme__my_narrator_")
    assert voice["voiceId"].endswith("z")
    assert (voice["source"], voice["displayName"], voice["langCode"]) == (
        "IVC",
        "My Narrator",
        "EN_US",
    )
    [checked] = body["audioSamplesValidated"]
    assert (checked["errors"], checked["warnings"]) == ([], [])
    assert checked["transcription"] == "Hello from the emulator."
    _, listed = await call(client, "GET", VOICES_PATH, params={"filter": 'source = "IVC"'})
    assert [v["voiceId"] for v in listed["voices"]] == [voice["voiceId"]]
    status, got = await call(client, "GET", f"{VOICES_PATH}/{voice['voiceId']}")
    assert (status, got) == (200, voice)
    status, got = await call(client, "GET", f"/voices/v1/workspaces/acme/voices/{voice['voiceId']}")
    assert status == 200
    assert await call(client, "DELETE", f"{VOICES_PATH}/{voice['voiceId']}") == (200, {})
    status, body = await call(client, "DELETE", f"{VOICES_PATH}/{voice['voiceId']}")
    assert (status, body["code"]) == (404, 5)
    status, body = await call(client, "DELETE", f"{VOICES_PATH}/Ashley")
    assert (status, body["code"]) == (403, 7)


async def test_a_taken_name_is_409(make_client: MakeClient) -> None:
    """A displayName already used by a cloned voice: 409 ALREADY_EXISTS (both path forms)."""
    client = await make_client()
    body = clone_body("Narrator", wav_bytes(6))
    assert (await call(client, "POST", VOICES_PATH + ":clone", json=body))[0] == 200
    for path in (VOICES_PATH + ":clone", "/voices/v1/workspaces/emulator/voices:clone"):
        status, answer = await call(client, "POST", path, json=body)
        assert (status, answer["code"]) == (409, 6)
        assert "Narrator" in answer["message"]


@pytest.mark.parametrize(
    ("audio", "errors", "warnings"),
    [
        (wav_bytes(2), ["Audio is too short (2.0 s): at least 3 seconds needed."], []),
        (b"not audio at all", ["Unsupported or unreadable audio: expected a WAV or MP3 file."], []),
        (wav_bytes(4), [], ["shorter than 5 seconds (4.0 s)"]),
        (wav_bytes(16), [], ["longer than 15 seconds"]),
        (mp3_bytes(6), [], []),
    ],
)
async def test_samples_are_validated(
    make_client: MakeClient, audio: bytes, errors: list[str], warnings: list[str]
) -> None:
    """Too short or unreadable audio: errors in audioSamplesValidated and no voice; short or
    long audio: warnings; MP3 is accepted."""
    client = await make_client()
    status, body = await call(client, "POST", VOICES_PATH + ":clone", json=clone_body("V", audio))
    assert status == 200
    [checked] = body["audioSamplesValidated"]
    assert [e["text"] for e in checked["errors"]] == errors
    assert len(checked["warnings"]) == len(warnings)
    for text, expected in zip(checked["warnings"], warnings, strict=True):
        assert expected in text["text"]
    assert ("voice" in body) == (not errors)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"langCode": "EN_US", "voiceSamples": [{"audioData": ""}]}, "displayName is required."),
        ({"displayName": "x", "langCode": "xx", "voiceSamples": [{"audioData": ""}]}, "langCode"),
        ({"displayName": "x", "langCode": "EN_US", "voiceSamples": []}, "voiceSamples"),
        ({"displayName": "x", "langCode": "EN_US", "voiceSamples": [{}]}, "audioData"),
        ([], "JSON object"),
    ],
)
async def test_malformed_clone_requests_are_400(
    make_client: MakeClient, body: Any, message: str
) -> None:
    """Missing or wrong fields: 400 INVALID_ARGUMENT naming the field."""
    client = await make_client()
    status, answer = await call(client, "POST", VOICES_PATH + ":clone", json=body)
    assert (status, answer["code"]) == (400, 3)
    assert message in answer["message"]
    assert client.app is not None
    assert client.app[VOICES_REQUESTS][-1].path == VOICES_PATH + ":clone"


async def session_voice(client: TestClient[Any, Any], voice: str) -> dict[str, Any]:
    """The answer of a realtime session to a session.update setting `voice`."""
    ws = await client.ws_connect(f"{EMULATOR_PATH}?key=k-{voice}&protocol=realtime", headers=BASIC)
    try:
        async with asyncio.timeout(5):
            first = await ws.receive()
            assert orjson.loads(first.data)["type"] == "session.created"
            update = {"type": "session.update", "session": {"audio": {"output": {"voice": voice}}}}
            await ws.send_str(orjson.dumps(update).decode())
            msg = await ws.receive()
        assert msg.type is WSMsgType.TEXT
        answer: dict[str, Any] = orjson.loads(msg.data)
        return answer
    finally:
        await ws.close()


async def test_cloned_voices_in_realtime_sessions(make_client: MakeClient) -> None:
    """With known_custom_voices_only, a session takes a voice cloned here, and refuses it once
    deleted, and refuses a well-formed id never cloned."""
    client = await make_client(known_custom_voices_only=True)
    _, body = await call(client, "POST", VOICES_PATH + ":clone", json=clone_body("N", wav_bytes(6)))
    voice_id = body["voice"]["voiceId"]
    answer = await session_voice(client, voice_id)
    assert answer["type"] == "session.updated"
    assert answer["session"]["audio"]["output"]["voice"] == voice_id
    never = await session_voice(client, "emulator__never_cloned")
    assert never["error"]["param"] == "session.audio.output.voice"
    await call(client, "DELETE", f"{VOICES_PATH}/{voice_id}")
    gone = await session_voice(client, voice_id)
    assert gone["type"] == "error"


async def test_by_default_any_well_formed_custom_voice_passes(make_client: MakeClient) -> None:
    """Inworld's answer to an unknown custom id is not documented: the default accepts it."""
    client = await make_client()
    answer = await session_voice(client, "ws__anything")
    assert answer["type"] == "session.updated"

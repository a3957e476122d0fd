"""`inworld-realtime-proxy voices ...` against the emulator over real HTTP, and the new voice
in a realtime session through the proxy."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai import AsyncOpenAI

from proxy.cli.audio_check import AudioCheckError, check_total, inspect, mp3_info
from proxy.cli.main import main
from proxy.cli.voices import ProgressBar, lang_code
from proxy.config import load
from proxy.emulator import EmulatorSettings
from proxy.emulator.voices import VOICES_REQUESTS
from tests.support.samples import mp3_bytes, wav_bytes
from tests.support.stack import KEY, SECRET, Stack

TIMEOUT = 10


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    """The stack's emulator accepts only voices cloned on it (so a session proves the clone)."""
    return EmulatorSettings(
        api_key=KEY, api_secret=SECRET, ping_interval=0.05, known_custom_voices_only=True
    )


async def cli(
    stack: Stack, capsys: pytest.CaptureFixture[str], *args: str, secret: str = SECRET
) -> tuple[int, str, str]:
    """Run the command line (in a thread: it runs its own event loop) against the stack's
    emulator; returns (status, stdout, stderr)."""
    env = {
        "INWORLD_API_KEY": KEY,
        "INWORLD_API_SECRET": secret,
        "INWORLD_API_URL": str(stack.emulator.make_url("")),
    }
    status = await asyncio.to_thread(main, ["voices", *args], env)
    out, err = capsys.readouterr()
    return status, out, err


def sample(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


async def test_list_follows_every_page_and_filters(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """`voices list` walks all pages (5 per request here) and prints one row per voice;
    --source/--lang become Inworld's filter; --json parses."""
    status, out, err = await cli(stack, capsys, "list", "--page-size", "5")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "LANGUAGE", "GENDER", "TAGS"]
    assert lines[1].split() == ["Alex", "Alex", "EN_US", "male", "friendly,", "expressive"]
    assert len(lines) == 1 + 22
    assert err.strip() == "22 voices"
    requests = stack.emulator.app[VOICES_REQUESTS]
    assert [r.query.get("pageToken") for r in requests] == [None, "1-5", "2-5", "3-5", "4-5"]
    status, out, _ = await cli(
        stack, capsys, "list", "--source", "system", "--lang", "en", "--json"
    )
    assert status == 0
    voices = orjson.loads(out)
    assert len(voices) == 22
    assert requests[-1].query["filter"] == 'source = "SYSTEM" AND lang_code = "en"'
    status, out, _ = await cli(stack, capsys, "list", "--source", "cloned", "--json")
    assert (status, orjson.loads(out)) == (0, [])


async def test_clone_then_use_the_voice_through_the_proxy(
    stack: Stack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A generated 6 s WAV clones into a voice id; a realtime session through the proxy then
    gets `session.updated` with that voice, and Inworld (the emulator) runs it."""
    wav = sample(tmp_path, "narrator.wav", wav_bytes(6))
    status, out, err = await cli(stack, capsys, "clone", "--name", "Narrator", "--lang", "en", wav)
    assert status == 0, err
    assert err.splitlines() == ["narrator.wav: WAV, mono, 24000 Hz, 6.0 s, 281 KB"]
    first, hint, line = out.splitlines()
    voice_id = first.removeprefix("voice id: ")
    assert voice_id.startswith("emulator__narrator_")
    assert hint.startswith("paste under [voices.map]")
    assert line == f'alloy = "{voice_id}"'
    client = AsyncOpenAI(api_key="sk-test", websocket_base_url=stack.proxy_ws_base())
    async with asyncio.timeout(TIMEOUT), client.realtime.connect(model="gpt-realtime") as conn:
        created = await conn.recv()
        assert created.type == "session.created"
        await conn.session.update(
            session={"type": "realtime", "audio": {"output": {"voice": voice_id}}}
        )
        updated = await conn.recv()
        assert updated.type == "session.updated", updated
        assert updated.session.audio.output.voice == voice_id  # type: ignore[union-attr]
    emulated = stack.only_session().session_config
    assert emulated["audio"]["output"]["voice"] == voice_id


async def test_clone_json_and_a_duplicate_name(
    stack: Stack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--json prints {"voiceId", "warnings"} (a 4 s sample warns); the same name again is
    Inworld's 409, one line, exit 1."""
    wav = sample(tmp_path, "short.wav", wav_bytes(4))
    status, out, err = await cli(
        stack, capsys, "clone", "--name", "Twice", "--lang", "EN_US", wav, "--json"
    )
    assert status == 0
    reply = orjson.loads(out)
    assert set(reply) == {"voiceId", "warnings"}
    assert reply["warnings"] == [
        "short.wav: Audio is shorter than 5 seconds (4.0 s); 5-15 seconds give a better clone."
    ]
    assert "warning: 4.0 s of audio in total; Inworld recommends 5-15 s" in err
    status, out, err = await cli(stack, capsys, "clone", "--name", "Twice", "--lang", "en", wav)
    assert (status, out) == (1, "")
    assert err.splitlines()[-1] == (
        "inworld-realtime-proxy: error: the voice name 'Twice' is already taken in this "
        "workspace (HTTP 409: A voice with displayName 'Twice' already exists.); choose "
        "another --name"
    )


async def test_a_two_second_sample_is_refused_locally(
    stack: Stack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """2 s of audio never leaves the machine: one line, exit 1, no request to Inworld."""
    wav = sample(tmp_path, "tiny.wav", wav_bytes(2))
    status, out, err = await cli(stack, capsys, "clone", "--name", "Tiny", "--lang", "en", wav)
    assert (status, out) == (1, "")
    assert err.splitlines() == [
        "tiny.wav: WAV, mono, 24000 Hz, 2.0 s, 94 KB",
        "inworld-realtime-proxy: error: 2.0 s of audio in total; Inworld needs at least 3 s "
        "(5-15 s recommended); nothing was uploaded",
    ]
    assert stack.emulator.app[VOICES_REQUESTS] == []


async def test_show_delete_and_errors(
    stack: Stack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """show and delete a cloned voice; a wrong secret, an unknown id and a system voice each
    give one line and exit 1."""
    wav = sample(tmp_path, "v.wav", wav_bytes(6))
    _, out, _ = await cli(stack, capsys, "clone", "--name", "Gone", "--lang", "en", wav, "--json")
    voice_id = orjson.loads(out)["voiceId"]
    status, out, _ = await cli(stack, capsys, "show", voice_id, "--json")
    assert (status, orjson.loads(out)["displayName"]) == (0, "Gone")
    assert (await cli(stack, capsys, "delete", voice_id))[:2] == (0, f"deleted {voice_id}\n")
    status, _, err = await cli(stack, capsys, "show", voice_id)
    assert (status, err) == (
        1,
        f"inworld-realtime-proxy: error: no such voice (HTTP 404: Voice '{voice_id}' not found.)\n",
    )
    status, _, err = await cli(stack, capsys, "list", secret="wrong")
    assert status == 1
    assert err == (
        "inworld-realtime-proxy: error: Inworld refused the credentials (HTTP 401: Invalid API "
        "key.); check INWORLD_API_KEY and INWORLD_API_SECRET\n"
    )
    status, _, err = await cli(stack, capsys, "delete", "Ashley")
    assert status == 1
    assert "HTTP 403" in err


async def test_suggest_writes_a_voices_map(
    stack: Stack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """suggest: a candidate of the same gender for each OpenAI voice (the configured one kept),
    and a [voices.map] block, written with --write as a file the proxy loads."""
    target = tmp_path / "voices.toml"
    status, out, _ = await cli(stack, capsys, "suggest", "--write", str(target))
    assert status == 0
    assert out.splitlines()[1].split()[:4] == ["alloy", "female", "Ashley", "Ashley"]
    block = out[out.index("[voices.map]") :].strip()
    assert 'verse = "Blake"' in block.splitlines()
    assert target.read_text().endswith(block + "\n")
    assert load(target, {}).rules.voice_map["verse"] == "Blake"
    status, _, err = await cli(stack, capsys, "suggest", "--write", str(target))
    assert (status, "exists" in err) == (2, True)
    status, out, _ = await cli(stack, capsys, "suggest", "--lang", "de")
    assert "# alloy: no female system voice for language de" in out


def test_local_audio_checks(tmp_path: Path) -> None:
    """WAV through `wave`, MP3 through its frame headers (ID3 tags skipped), the 4 MB limit,
    and the 3/5/15 s rules on the total."""
    stereo = tmp_path / "s.wav"
    stereo.write_bytes(wav_bytes(5.5, rate=16000, channels=2))
    assert inspect(stereo).describe() == "s.wav: WAV, stereo, 16000 Hz, 5.5 s, 344 KB"
    mp3 = tmp_path / "m.mp3"
    mp3.write_bytes(mp3_bytes(6.0, mono=True))
    info = inspect(mp3)
    assert (info.kind, info.channels, info.sample_rate) == ("MP3", 1, 44100)
    assert info.seconds == pytest.approx(6.0, abs=0.03)
    bare = mp3_info(mp3_bytes(3.0, id3=False))
    assert bare is not None
    assert bare[:2] == (2, 44100)
    assert bare[2] == pytest.approx(3.0, abs=0.03)
    junk = tmp_path / "j.mp3"
    junk.write_bytes(b"\xff\xfb" + bytes(1000))
    with pytest.raises(AudioCheckError, match="not a readable WAV or MP3"):
        inspect(junk)
    big = tmp_path / "big.wav"
    big.write_bytes(wav_bytes(90))  # 4.3 MB
    with pytest.raises(AudioCheckError, match="Inworld takes at most 4 MB per sample"):
        inspect(big)
    with pytest.raises(AudioCheckError, match="cannot read"):
        inspect(tmp_path / "missing.wav")
    assert check_total([info]) == ([], [])
    assert check_total([info, info, info])[0] == [
        "18.0 s of audio in total; Inworld uses at most 15 s: trim the samples"
    ]


def test_language_names() -> None:
    """--lang takes a short code, BCP-47, underscore or Inworld's own enum value."""
    assert [lang_code(x) for x in ("en", "en-US", "EN_US", "ja", "auto", "xx")] == [
        "EN_US", "EN_US", "EN_US", "JA_JP", "AUTO", None,
    ]  # fmt: skip


class _Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_bar_only_on_a_terminal() -> None:
    """The upload bar is drawn on a terminal and never into a pipe or file."""
    for tty, drawn in ((True, True), (False, False)):
        stream = _Terminal(tty)
        bar = ProgressBar(stream, width=10)
        bar(512, 1024)
        bar(1024, 1024)
        text: Any = stream.getvalue()
        assert bool(text) == drawn
        if drawn:
            assert "\ruploading [#####.....]  50%" in text
            assert text.endswith("100% 0.0/0.0 MB\n")

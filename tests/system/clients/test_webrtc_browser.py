"""Real headless Chromium on OpenAI's WebRTC flow, through `serve --emulator`, base URL changed.

Three pages, each with a fake microphone speaking a WAV file made with espeak-ng: OpenAI's
documented browser snippet, `@openai/agents-realtime`'s `OpenAIRealtimeWebRTC` (its default
transport in a browser), and the proxy's own demo page in WebRTC mode. Each must complete a
spoken turn (server VAD) and play the reply, which Chromium's own statistics show as inbound
audio energy. Everything runs in a network namespace with loopback only
(tests/support/netns_call.py), so no packet leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.clients import missing, require_chromium, require_node

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 90


def spoken_wav(folder: Path) -> Path:
    """A question spoken by espeak-ng, at 24 kHz with 2 s of silence after it (Chromium loops
    the file, so the VAD sees speech, then silence: one turn)."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            missing(tool, "apt-get install espeak-ng sox")
    raw, wav = folder / "speech.wav", folder / "mic.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(raw), "Hello, what is the weather like today?"], check=True
    )
    subprocess.run(
        ["sox", str(raw), "-r", "24000", "-c", "1", "-b", "16", str(wav), "pad", "0.3", "2"],
        check=True,
    )
    return wav


async def in_namespace(driver: str, page: str, wav: Path) -> dict[str, Any]:
    """Run the driver on `page` against a fresh `serve --emulator` in a loopback-only network
    namespace; return the driver's result with the proxy's log lines."""
    chromium = require_chromium()
    require_node()
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        missing("unshare and ip (util-linux, iproute2)", "apt-get install util-linux iproute2")
    assert chromium
    command = (
        f"ip link set lo up && exec {sys.executable} -m tests.support.netns_call "
        f"{driver} '{page}' {wav}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INWORLD_", "PROXY_"))}
    proc = await asyncio.create_subprocess_exec(
        "unshare", "-n", "sh", "-c", command, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{driver} did not finish within {TIMEOUT} s") from None
    if proc.returncode != 0 and b"unshare" in err:
        missing("network namespaces (unshare -n; needs root)", "run as root")
    assert proc.returncode == 0, err.decode()[-3000:]
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert "driver_error" not in result, result["driver_error"]
    return result


def check_call(result: dict[str, Any], events: list[str]) -> None:
    """One spoken turn answered and heard; one session_start/session_end pair, transport webrtc."""
    assert result["finished"] == "done", result
    assert result["errors"] == []
    assert events[0] == "session.created"
    for kind in ("input_audio_buffer.speech_started", "response.done"):
        assert kind in events
    assert "response.output_audio.delta" not in events  # audio came on the track
    assert events.index("output_audio_buffer.started") < events.index("response.done")
    assert events[-1] == "output_audio_buffer.stopped"
    assert result["totalAudioEnergy"] > 0.001  # Chromium played the reply
    lines = [r for r in result["proxy_log"] if r.get("event") in ("session_start", "session_end")]
    assert [r["event"] for r in lines] == ["session_start", "session_end"]
    assert {r["transport"] for r in lines} == {"webrtc"}


async def test_openai_documented_browser_snippet(tmp_path: Path) -> None:
    result = await in_namespace(
        "webrtc_browser.mjs",
        "http://{pages}/browser/webrtc_openai.html?proxy={proxy}",
        spoken_wav(tmp_path),
    )
    check_call(result, result["types"])
    assert result["status"] == 201
    assert result["location"].startswith("/v1/realtime/calls/rtc_")
    assert result["transcript"].startswith("You said:")


async def test_agents_realtime_webrtc_transport(tmp_path: Path) -> None:
    result = await in_namespace(
        "webrtc_browser.mjs",
        "http://{pages}/browser/webrtc_agents.html?proxy={proxy}",
        spoken_wav(tmp_path),
    )
    check_call(result, result["types"])
    assert result["keyPrefix"] == "ek_"  # the proxy's token, as the SDK demands in a browser
    assert result["status"] == "connected"
    assert result["callId"].startswith("rtc_")
    assert result["connectMs"] < 4000  # session.updated came (the SDK waits 5 s without it)
    assert result["transcripts"][0].startswith("You said:")
    assert [h["role"] for h in result["history"]] == ["user", "assistant"]


async def test_demo_page_in_webrtc_mode(tmp_path: Path) -> None:
    demo = await in_namespace(
        "demo_page.mjs", "http://{proxy}/?transport=webrtc", spoken_wav(tmp_path)
    )
    assert demo["transport"] == "webrtc"
    events = demo["events"]
    assert events[0] == "session.created"
    assert "input_audio_buffer.speech_started" in events
    assert events.index("output_audio_buffer.started") < events.index("response.done")
    assert "response.output_audio.delta" not in events
    assert demo["transcript"].startswith("You said:")
    assert demo["totalAudioEnergy"] > 0.001

"""`compare`: one script against two emulator profiles through the proxy, and its pieces.

The end-to-end test runs the real command (in a thread: it runs its own event loop) against
a proxy whose routes `fast` and `slow` reach two emulator instances by their variant `url`:
first audio after 100 ms and after 400 ms, and a cancel that takes 0 ms and 250 ms.
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import math
import re
import wave
from pathlib import Path
from typing import Any

import orjson
import pytest

from proxy.cli.compare import table
from proxy.cli.compare_script import RATE, Plan, Turn, builtin_turns, read_wav
from proxy.cli.compare_stats import Samples, percentile, summarize
from proxy.cli.main import main
from proxy.config import load
from proxy.emulator import EMULATOR_PATH, EmulatorSettings, create_emulator_app
from tests.support.stack import KEY, SECRET

ENV = {"INWORLD_API_KEY": KEY, "INWORLD_API_SECRET": SECRET}
ROUTES = """
[routing.routes.fast]
model = "openai/gpt-5.5"
url = "{fast}"
[routing.routes.slow]
model = "openai/gpt-5.5"
url = "{slow}"
"""


def write_wav(path: Path, *, rate: int, channels: int, ms: int, hz: float = 440.0) -> None:
    """A 16-bit tone, the same on every channel."""
    samples = array.array("h")
    for i in range(rate * ms // 1000):
        value = int(12000 * math.sin(2 * math.pi * hz * i / rate))
        samples.extend([value] * channels)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


async def test_compare_two_emulator_profiles(
    tmp_path: Path,
    aiohttp_server: Any,
    start_proxy: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The table and the JSON put `fast` first, about 300 ms ahead; barge-in reaction shows
    the slower cancel; the HTML page is self-contained with a chart per target."""
    urls = {}
    for name, first, cancel in (("fast", 100, 0), ("slow", 400, 250)):
        settings = EmulatorSettings(
            api_key=KEY,
            api_secret=SECRET,
            ping_interval=0,
            first_audio_ms=first,
            cancel_ms=cancel,
            response_pace=0.05,
        )
        server = await aiohttp_server(create_emulator_app(settings))
        urls[name] = str(server.make_url(EMULATOR_PATH)).replace("http", "ws", 1)
    path = tmp_path / "proxy.toml"
    path.write_text(ROUTES.format(**urls))
    cfg = load(path, ENV)
    cfg = dataclasses.replace(cfg, upstream=dataclasses.replace(cfg.upstream, url=urls["fast"]))
    proxy = await start_proxy(cfg)
    base = str(proxy.make_url("/v1/realtime")).replace("http", "ws", 1)
    wav = tmp_path / "hello.wav"
    write_wav(wav, rate=16_000, channels=2, ms=400)
    report, page = tmp_path / "out.json", tmp_path / "out.html"
    argv = [
        "compare",
        "--target", f"slow={base}?model=slow",
        "--target", f"fast={base}?model=fast",
        "--audio", str(wav),
        "--barge-in",
        "--json", str(report),
        "--html", str(page),
    ]  # fmt: skip
    status = await asyncio.to_thread(main, argv, {})
    out, err = capsys.readouterr()
    assert status == 0, err
    lines = out.splitlines()  # the proxy in this process logs to stdout too
    head = next(i for i, line in enumerate(lines) if line.startswith("target "))
    assert [line.split()[0] for line in lines[head + 2 : head + 4]] == ["fast", "slow"]
    assert "fastest: fast" in out
    assert re.search(r"compare: slow run 1/1 hello\.wav: \d+ ms", err)  # progress
    data = orjson.loads(report.read_bytes())
    assert data["ranking"] == ["fast", "slow"]
    assert list(data["targets"]) == ["fast", "slow"]
    fast, slow = data["targets"]["fast"], data["targets"]["slow"]
    for target in (fast, slow):
        assert target["errors"] == 0, target["error_codes"]
        assert target["turns"] == 2  # the spoken turn, and the barge-in's own reply
        for key in ("turn_latency_ms", "first_text_ms", "barge_in_reaction_ms"):
            assert {"p50", "p95"} <= set(target[key])
        assert target["barge_in_reaction_ms"]["count"] == 1
        assert target["audio_seconds_out"] > 0
        assert target["tokens"] > 0
    gap = slow["turn_latency_ms"]["p50"] - fast["turn_latency_ms"]["p50"]
    assert 200 < gap < 400  # the profiles differ by 300 ms
    assert slow["barge_in_reaction_ms"]["p50"] > fast["barge_in_reaction_ms"]["p50"]
    html = page.read_text()
    assert html.count("<svg") >= 6  # three measures at least, one chart per target
    assert "<script" not in html
    assert not re.search(r"(src|href)=", html)


def test_the_table_and_json_order_targets_by_turn_latency() -> None:
    """Fastest first; a target without a single turn comes last."""
    results = {"b": Samples(), "a": Samples(), "none": Samples()}
    results["b"].turn_latency_ms += [400.0, 420.0, 390.0]
    results["a"].turn_latency_ms += [100.0, 130.0, 90.0]
    results["none"].error("connect_failed")
    urls = {
        "b": "ws://h/v1/realtime?model=x",
        "a": "wss://user:pw@h:9/v1/realtime?api_key=sk-1&model=y",
        "none": "ws://h",
    }
    report = summarize(results, urls, Plan(turns=[Turn("t", text="hi")]), runs=1)
    assert report["ranking"] == ["a", "b", "none"]
    assert list(report["targets"]) == ["a", "b", "none"]
    assert report["targets"]["a"]["turn_latency_ms"]["p50"] == 100.0
    assert report["targets"]["none"]["turns"] == 0
    assert report["targets"]["none"]["turn_latency_ms"]["p50"] is None
    assert "sk-1" not in orjson.dumps(report).decode()
    assert "pw" not in report["targets"]["a"]["url"]
    lines = table(report).splitlines()
    assert [line.split()[0] for line in lines[2:5]] == ["a", "b", "none"]
    assert "fastest: a (turn latency p50 100 ms); b +300 ms" in lines[-1]


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([float(v) for v in range(101)], 0.95) == pytest.approx(95.0)


def test_wav_files_are_mixed_down_and_resampled(tmp_path: Path) -> None:
    """A 48 kHz stereo 8-bit-free file and a 16 kHz mono one become 24 kHz mono PCM16."""
    for rate, channels in ((48_000, 2), (16_000, 1), (24_000, 1)):
        path = tmp_path / f"{rate}-{channels}.wav"
        write_wav(path, rate=rate, channels=channels, ms=500)
        pcm = read_wav(path)
        assert len(pcm) == pytest.approx(2 * RATE // 2, abs=4)  # 500 ms at 24 kHz
        samples = array.array("h", pcm)
        assert max(samples) > 10000  # the tone survived
    (tmp_path / "bad.wav").write_bytes(b"RIFFnope")
    with pytest.raises(ValueError, match=r"bad\.wav"):
        read_wav(tmp_path / "bad.wav")


def test_builtin_turns_alternate_speech_and_text() -> None:
    turns = builtin_turns(3)
    assert [t.spoken for t in turns] == [True, False, True]
    loud = array.array("h", turns[0].pcm)
    rms = math.sqrt(sum(v * v for v in loud) / len(loud))
    assert rms > 500  # above any VAD threshold (the emulator's: 500)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "nourl"], "NAME=URL"),
        (["--target", "a=http://h/x"], "ws://"),
        (["--target", "a=ws://h", "--target", "a=ws://g"], "twice"),
        (["--target", "a=ws://h", "--key", "a=NO_SUCH_VARIABLE"], "NO_SUCH_VARIABLE"),
        (["--target", "a=ws://h", "--key", "b=X"], "--key"),
        (["--target", "a=ws://h", "--audio", "/nonexistent.wav"], "nonexistent"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", *argv], env={}) == 2
    assert message in capsys.readouterr().err


def test_an_unreachable_target_is_an_error_and_exit_1(
    capsys: pytest.CaptureFixture[str], unused_tcp_port: int
) -> None:
    """Nothing listens: one connect_failed error, no turns, exit 1 (the table still prints)."""
    target = f"down=ws://127.0.0.1:{unused_tcp_port}/v1/realtime"
    assert main(["compare", "--target", target, "--turns", "1", "--timeout", "5"], env={}) == 1
    out = capsys.readouterr().out
    assert re.search(r"down\s+0\s+-", out)

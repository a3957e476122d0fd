"""Run a browser WebRTC driver against `serve --emulator`, all inside one network namespace.

WebRTC media flows over UDP between the addresses ICE finds. Run in the machine's own network
namespace, Chromium would also offer (and answer checks from) its non-loopback interface
addresses; inside a fresh namespace the only interface is loopback, so every packet stays on
127.0.0.1. The test starts this module as

    unshare -n sh -c 'ip link set lo up && exec python -m tests.support.netns_call DRIVER PAGE WAV'

and it: starts the real proxy (`python -m proxy serve --emulator`, calls gathering on
127.0.0.1), serves tests/system/clients/ (the pages and the Node packages' browser bundles) on a
second port (a different origin, like a real site), runs `node DRIVER PAGE_URL WAV CHROMIUM`,
stops the proxy with SIGTERM, and prints one JSON line: the driver's result plus the proxy's
log lines (`proxy_log`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.clients import CHROMIUM, NODE_DIR
from tests.support.processes import log_lines, start_process, stop, wait_for_event

__all__ = ["PAGES_PORT", "PROXY_PORT", "main"]

PROXY_PORT, EMULATOR_PORT, PAGES_PORT = 8080, 8090, 5173  # a fresh namespace: all free
CLIENTS = NODE_DIR.parent
CONFIG = f"""
[server]
port = {PROXY_PORT}
[emulator]
port = {EMULATOR_PORT}
[limits]
shutdown_grace = 2.0
[webrtc]
host_addresses = ["127.0.0.1"]
connect_timeout = 10.0
"""


async def run(driver: str, page: str, wav: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "proxy.toml"
        config.write_text(CONFIG)
        proxy = await start_process("serve", "--emulator", "--config", str(config))
        await wait_for_event(proxy, "listening")
        logs: list[dict[str, Any]] = []

        async def keep_logs() -> None:
            async for record in log_lines(proxy):
                logs.append(record)

        reader = asyncio.get_running_loop().create_task(keep_logs())
        pages = web.Application()
        pages.router.add_static("/", CLIENTS)
        runner = web.AppRunner(pages, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", PAGES_PORT).start()
        try:
            url = page.format(proxy=f"127.0.0.1:{PROXY_PORT}", pages=f"127.0.0.1:{PAGES_PORT}")
            node = await asyncio.create_subprocess_exec(
                "node", driver, url, wav, CHROMIUM,
                cwd=NODE_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await node.communicate()
            if node.returncode != 0:
                return {"driver_error": err.decode()[-4000:]}
            result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        finally:
            await runner.cleanup()
            await stop(proxy)
            await reader
        result["proxy_log"] = logs
        return result


def main() -> None:
    driver, page, wav = sys.argv[1:4]
    print(json.dumps(asyncio.run(run(driver, page, wav))))


if __name__ == "__main__":
    main()

"""Graceful shutdown of a real `python -m proxy --emulator` process on a real SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.processes import start_process, wait_for_event
from tests.support.rig import TIMEOUT, Client


async def _listening(tmp_path: Path, grace: float) -> tuple[Any, str]:
    path = tmp_path / "proxy.toml"
    path.write_text(f"[limits]\nshutdown_grace = {grace}\n")
    process = await start_process("--emulator", "--port", "0", "--config", str(path))
    listening = await wait_for_event(process, "listening")
    return process, listening["url"].removesuffix("/v1/realtime")


async def test_sigterm_drains_then_closes_1001(tmp_path: Path) -> None:
    """SIGTERM: /readyz 503, new sessions 503, the live one works, then 1001 after the grace."""
    process, base = await _listening(tmp_path, grace=1.5)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{base}/v1/realtime") as raw,
            asyncio.TaskGroup() as tg,
        ):
            live = Client(raw)
            reader = tg.create_task(live.read())
            assert (await live.next_event())["type"] == "session.created"
            started = asyncio.get_running_loop().time()
            process.send_signal(signal.SIGTERM)
            draining = await wait_for_event(process, "draining")
            assert draining["sessions"] == 1
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 503
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(f"{base}/v1/realtime")
            assert info.value.status == 503
            assert (await live.full_turn())[-1]["type"] == "response.done"
            events, code, reason = await live.until_close()
            waited = asyncio.get_running_loop().time() - started
            reader.cancel()
        assert events == []
        assert (code, reason) == (1001, "proxy shutting down")
        assert waited >= 1.5
    finally:
        async with asyncio.timeout(TIMEOUT):
            status = await process.wait()
    assert status == 0


async def test_sigterm_exits_as_soon_as_sessions_end(tmp_path: Path) -> None:
    """With a long grace, the process exits 0 once its last session has ended."""
    process, base = await _listening(tmp_path, grace=60)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{base}/v1/realtime")
            async with asyncio.timeout(TIMEOUT):
                assert (await ws.receive_json())["type"] == "session.created"
            process.send_signal(signal.SIGTERM)
            await wait_for_event(process, "draining")
            await ws.close()
        drained = await wait_for_event(process, "drained")
        assert drained["sessions_left"] == 0
    finally:
        async with asyncio.timeout(TIMEOUT):
            status = await process.wait()
    assert status == 0


async def test_second_signal_cuts_the_grace_short(tmp_path: Path) -> None:
    """A second SIGTERM closes live sessions (1001) at once, without waiting for the grace."""
    process, base = await _listening(tmp_path, grace=60)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{base}/v1/realtime")
            async with asyncio.timeout(TIMEOUT):
                assert (await ws.receive_json())["type"] == "session.created"
                process.send_signal(signal.SIGTERM)
                await wait_for_event(process, "draining")
                process.send_signal(signal.SIGTERM)
                while (msg := await ws.receive()).type is aiohttp.WSMsgType.TEXT:
                    continue
            assert msg.type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1001
    finally:
        async with asyncio.timeout(TIMEOUT):
            status = await process.wait()
    assert status == 0

"""Faults, driven by the emulator's fault modes: the client is told, nothing leaks, and a
healthy session on the same proxy carries on."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.core.error_events import client_close_code
from proxy.emulator import EMULATOR_SESSIONS
from proxy.ws.handover import transport_of
from tests.support.rig import eventually, open_sockets, start_rig


@pytest.mark.parametrize(
    ("status", "close", "error_type", "code"),
    [
        (401, 1008, "invalid_request_error", "upstream_unauthorized"),
        (403, 1008, "invalid_request_error", "upstream_unauthorized"),
        (429, 1013, "rate_limit_exceeded", "upstream_rate_limited"),
        (500, 1011, "server_error", "upstream_unavailable"),
    ],
)
async def test_upstream_refuses_upgrade(
    aiohttp_server: Any, status: int, close: int, error_type: str, code: str
) -> None:
    """Emulator refuses with 401/403/429/500: error event, mapped close; others unaffected."""
    rig = await start_rig(aiohttp_server)
    baseline = open_sockets()
    async with rig.client() as healthy:
        assert (await healthy.next_event())["type"] == "session.created"
        rig.faults.mode, rig.faults.status = "refuse", status
        async with rig.client() as ws:
            events, close_code, _ = await ws.until_close()
        rig.faults.mode = None
        assert [e["type"] for e in events] == ["error"]
        assert (events[0]["error"]["type"], events[0]["error"]["code"]) == (error_type, code)
        assert close_code == close
        assert (await healthy.full_turn())[-1]["response"]["status"] == "completed"
    await rig.no_leaks(baseline)
    assert rig.metric("inworld_proxy_upstream_handshake_failures_total", status=str(status)) == 1


async def test_upstream_never_starts_session(aiohttp_server: Any) -> None:
    """Accepted but no session.created: error `upstream_timeout` and 1011 after the deadline."""
    rig = await start_rig(aiohttp_server, session_start_timeout=0.3)
    baseline = open_sockets()
    async with rig.client() as healthy:
        assert (await healthy.next_event())["type"] == "session.created"
        rig.faults.mode = "silent"
        async with rig.client() as ws:
            events, close_code, reason = await ws.until_close()
        rig.faults.mode = None
        assert [(e["type"], e["error"]["code"]) for e in events] == [("error", "upstream_timeout")]
        assert close_code == 1011
        assert reason == "upstream session did not start"
        assert (await healthy.full_turn())[-1]["type"] == "response.done"
    await rig.no_leaks(baseline)


@pytest.mark.parametrize("code", [1000, 1001, 1008, 1011, 1013, 4000, 4999])
async def test_upstream_closes_mid_response(aiohttp_server: Any, code: int) -> None:
    """Inworld closes mid-response with `code`: the client gets the mapped code and reason."""
    rig = await start_rig(aiohttp_server)
    baseline = open_sockets()
    async with rig.client() as healthy:
        assert (await healthy.next_event())["type"] == "session.created"
        rig.faults.mode, rig.faults.close_code = "close", code
        async with rig.client() as ws:
            assert (await ws.next_event())["type"] == "session.created"
            await ws.ask()
            events, close_code, reason = await ws.until_close()
        rig.faults.mode = None
        kinds = [e["type"] for e in events]
        assert "response.created" in kinds
        assert "response.output_audio.delta" in kinds  # it really was mid-response
        assert "response.done" not in kinds
        assert (close_code, reason) == (client_close_code(code), "Emulated fault")
        assert (await healthy.full_turn())[-1]["type"] == "response.done"
    await rig.no_leaks(baseline)


@pytest.mark.parametrize("mode", ["reset", "stall"])
async def test_upstream_lost_mid_response(aiohttp_server: Any, mode: str) -> None:
    """A TCP reset or a hung Inworld (missed heartbeat): error event, then 1011."""
    rig = await start_rig(aiohttp_server, heartbeat_interval=0.2)
    baseline = open_sockets()
    async with rig.client() as healthy:
        assert (await healthy.next_event())["type"] == "session.created"
        rig.faults.mode = mode  # type: ignore[assignment]
        async with rig.client() as ws:
            assert (await ws.next_event())["type"] == "session.created"
            await ws.ask()
            events, close_code, reason = await ws.until_close()
        rig.faults.mode = None
        assert "response.output_audio.delta" in [e["type"] for e in events]
        assert events[-1]["type"] == "error"
        assert events[-1]["error"]["code"] == "upstream_connection_lost"
        assert (close_code, reason) == (1011, "upstream connection lost")
        assert (await healthy.full_turn())[-1]["type"] == "response.done"
    await rig.no_leaks(baseline)


async def test_client_vanishes_mid_stream(aiohttp_server: Any) -> None:
    """The client's TCP connection is aborted mid-response: Inworld is closed (1011) at once."""
    rig = await start_rig(aiohttp_server)
    baseline = open_sockets()
    async with rig.client() as healthy:
        assert (await healthy.next_event())["type"] == "session.created"
        keys_before = set(rig.emulator.app[EMULATOR_SESSIONS])
        async with rig.client() as ws:
            assert (await ws.next_event())["type"] == "session.created"
            await ws.ask()
            await ws.next_event("response.output_audio.delta")
            transport = transport_of(ws.ws)
            assert transport is not None
            transport.abort()
        [key] = set(rig.emulator.app[EMULATOR_SESSIONS]) - keys_before
        record = rig.emulator.app[EMULATOR_SESSIONS][key]
        await eventually(lambda: record.closed)
        assert record.close_code == 1011
        assert (await healthy.full_turn())[-1]["type"] == "response.done"
    await rig.no_leaks(baseline)

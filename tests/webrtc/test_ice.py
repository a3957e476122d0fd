"""proxy.webrtc.ice: host addresses and the UDP port range, seen in a real answer."""

from __future__ import annotations

import re

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from proxy.config.types import WebRTCConfig
from proxy.webrtc.ice import bind_in_range, ice_configuration, restrict_gathering
from tests.support.webrtc import client_peer, offer


async def answer_candidates(cfg: WebRTCConfig) -> list[tuple[str, int]]:
    client = client_peer()
    server = RTCPeerConnection(ice_configuration(cfg))
    try:
        await server.setRemoteDescription(RTCSessionDescription(await offer(client), "offer"))
        restrict_gathering(server, cfg, lambda *a, **k: None)
        await server.setLocalDescription(await server.createAnswer())
        found = re.findall(
            r"a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host", server.localDescription.sdp
        )
        return [(host, int(port)) for host, port in found]
    finally:
        await client.close()
        await server.close()


async def test_host_addresses_and_port_range() -> None:
    cfg = WebRTCConfig(host_addresses=("127.0.0.1",), port_min=41000, port_max=41009)
    candidates = await answer_candidates(cfg)
    assert candidates
    assert all(h == "127.0.0.1" and 41000 <= p <= 41009 for h, p in candidates)


async def test_loopback_only_without_a_range() -> None:
    candidates = await answer_candidates(WebRTCConfig(host_addresses=("127.0.0.1",)))
    assert candidates
    assert {h for h, _ in candidates} == {"127.0.0.1"}


def test_a_full_range_is_an_error() -> None:
    held = [bind_in_range("127.0.0.1", 41020, 41021) for _ in range(2)]
    try:
        assert {s.getsockname()[1] for s in held} == {41020, 41021}
        with pytest.raises(OSError, match="no free UDP port"):
            bind_in_range("127.0.0.1", 41020, 41021)
    finally:
        for sock in held:
            sock.close()


def test_turn_credentials_come_from_the_config_only_for_turn() -> None:
    cfg = WebRTCConfig(
        ice_servers=("stun:stun.example:3478", "turn:turn.example:3478"),
        turn_username="u",
        turn_credential="p",
    )
    stun, turn = ice_configuration(cfg).iceServers or []
    assert (stun.username, stun.credential) == (None, None)
    assert (turn.username, turn.credential) == ("u", "p")
    assert ice_configuration(WebRTCConfig()).iceServers == []

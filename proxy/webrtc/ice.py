"""ICE for the proxy's side of a call: STUN/TURN servers, host addresses, a UDP port range.

aiortc gathers every candidate inside `setLocalDescription` (no trickle: the HTTP answer
carries them all) and asks its ICE library, aioice, for host candidates on every interface
address except loopback, each on a port the OS picks; it has no option for either
(docs/protocol-notes.md#webrtc-ice). `webrtc.host_addresses` and `webrtc.port_min`/`port_max`
need both, so `restrict_gathering` replaces, on this one peer connection only, the gatherers'
host-candidate step:

- with only `host_addresses`: aioice's own step runs on those addresses (loopback allowed);
- with a port range: each host socket is bound here to a free port of the range (tried in
  random order; an address with no free port is skipped with a warning, as aioice skips an
  address it cannot bind), then aioice's server-reflexive (STUN) and relay (TURN) steps run as
  usual for those sockets.

Nothing changes for other peer connections; with neither option set aioice is left alone.
TURN credentials come from the environment (`PROXY_TURN_USERNAME`, `PROXY_TURN_CREDENTIAL`),
never from the file, and are never logged.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aioice.ice
from aioice.candidate import candidate_foundation, candidate_priority
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from proxy.config.types import WebRTCConfig

__all__ = ["bind_in_range", "ice_configuration", "restrict_gathering"]

_SOCKET_BUFFER = 1024 * 1024  # what aioice asks for its host sockets (turn.UDP_SOCKET_BUFFER_SIZE)


def ice_configuration(cfg: WebRTCConfig) -> RTCConfiguration:
    """The peer connection's configuration: `webrtc.ice_servers` (an empty list: host
    candidates only, and no 5 s wait for a STUN server that never answers)."""
    servers = []
    for url in cfg.ice_servers:
        if url.startswith(("turn:", "turns:")):
            servers.append(
                RTCIceServer(urls=url, username=cfg.turn_username, credential=cfg.turn_credential)
            )
        else:
            servers.append(RTCIceServer(urls=url))
    return RTCConfiguration(iceServers=servers)


def bind_in_range(address: str, low: int, high: int) -> socket.socket:
    """A non-blocking UDP socket bound to `address` on a free port in `low..high` (inclusive),
    ports tried in random order.

    Raises:
        OSError: no port of the range is free on that address.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    ports = list(range(low, high + 1))
    random.shuffle(ports)
    for port in ports:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((address, port))
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        return sock
    raise OSError(f"no free UDP port in {low}-{high} on {address}")


Gather = Callable[..., Awaitable[list[aioice.Candidate]]]


def _ranged_candidates(
    connection: aioice.Connection, original: Gather, low: int, high: int, warn: Callable[..., Any]
) -> Gather:
    """`Connection.get_component_candidates` with host sockets bound inside the port range."""

    async def candidates(
        component: int,
        addresses: list[str],
        timeout: int = 5,  # noqa: ASYNC109 (aioice's signature)
    ) -> list[aioice.Candidate]:
        loop = asyncio.get_running_loop()
        found: list[aioice.Candidate] = []
        protocols = []
        for address in addresses:
            try:
                sock = bind_in_range(address, low, high)
            except OSError as exc:
                warn("webrtc_port_range_full", address=address, detail=str(exc))
                continue
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
            _, protocol = await loop.create_datagram_endpoint(
                lambda: aioice.ice.StunProtocol(connection), sock=sock
            )
            host, port = sock.getsockname()[:2]
            protocol.local_candidate = aioice.Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            found.append(protocol.local_candidate)
            protocols.append(protocol)
        connection._protocols += protocols
        waits: list[Awaitable[Any]] = [original(component, [], timeout)]  # TURN, if any
        stun = connection.stun_server
        if stun is not None:
            waits += [
                aioice.ice.server_reflexive_candidate(p, stun)
                for p in protocols
                if ":" not in p.local_candidate.host
            ]
        results = await asyncio.gather(*waits, return_exceptions=True)
        relayed = results[0]
        if isinstance(relayed, list):
            found += relayed
        for result in results[1:]:  # a STUN server that does not answer: no srflx candidate
            if isinstance(result, tuple):
                found.append(result[0])
        return found

    return candidates


def restrict_gathering(pc: RTCPeerConnection, cfg: WebRTCConfig, warn: Callable[..., Any]) -> None:
    """Apply `host_addresses` and the port range to `pc`'s ICE gatherers (call after
    `setRemoteDescription`, before `setLocalDescription`). No-op when neither is set.

    Args:
        warn: a logger's `warning`, for an address with no free port.
    """
    if not cfg.host_addresses and not cfg.port_min:
        return
    gatherers = {t.sender.transport.transport.iceGatherer for t in pc.getTransceivers()}
    if pc.sctp is not None:
        gatherers.add(pc.sctp.transport.transport.iceGatherer)
    for gatherer in gatherers:
        connection: aioice.Connection = gatherer._connection
        step: Gather = connection.get_component_candidates
        if cfg.port_min:
            step = _ranged_candidates(connection, step, cfg.port_min, cfg.port_max, warn)
        chosen = list(cfg.host_addresses)

        def with_addresses(
            component: int,
            addresses: list[str],
            timeout: int = 5,
            *,
            step: Gather = step,
            chosen: list[str] = chosen,
        ) -> Awaitable[list[aioice.Candidate]]:
            return step(component, chosen or addresses, timeout)

        setattr(connection, "get_component_candidates", with_addresses)  # noqa: B010

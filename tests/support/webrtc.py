"""A real WebRTC client (aiortc) for the proxy's `/v1/realtime/calls`, doing what a browser does.

It follows OpenAI's browser flow: a data channel `oai-events` and a microphone track, then
`createOffer` -> `setLocalDescription` -> POST the offer at once (a browser's offer carries no
candidates: they are stripped here, so the proxy learns the client's address from its ICE
checks), then the answer. Every ICE socket, the client's and the proxy's, is on 127.0.0.1.

The microphone plays PCM16 24 kHz mono handed to `say()`, paced in real time, silence
otherwise; the speaker keeps every received frame's energy so a test can tell audio from
silence. Events received on the channel are kept in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import av
import orjson
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from prometheus_client import CollectorRegistry

from proxy.config import Config
from proxy.config.types import WebRTCConfig
from proxy.webrtc.audio import pcm_frame
from proxy.webrtc.ice import ice_configuration, restrict_gathering

__all__ = [
    "LOOPBACK",
    "Microphone",
    "RtcClient",
    "client_peer",
    "loopback_config",
    "metric_sum",
    "offer",
    "rtc_call",
    "strip_candidates",
]

TIMEOUT = 15
LOOPBACK = WebRTCConfig(host_addresses=("127.0.0.1",), connect_timeout=10.0)
_RATE = 24000
_FRAME = _RATE // 50  # 20 ms


def loopback_config(cfg: Config, **webrtc: Any) -> Config:
    """`cfg` whose calls gather host candidates on 127.0.0.1 only."""
    return dataclasses.replace(cfg, webrtc=dataclasses.replace(LOOPBACK, **webrtc))


def metric_sum(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (other labels, such as
    ones added later, are summed over)."""
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def strip_candidates(sdp: str) -> str:
    """The offer as a browser posts it: no candidates, no end-of-candidates."""
    return re.sub(r"(?m)^a=(candidate:|end-of-candidates).*\r?\n", "", sdp)


class Microphone(MediaStreamTrack):
    """An audio track playing queued PCM16 24 kHz mono in real time (silence when idle)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._start: float | None = None
        self._pts = 0
        self.sent_at: list[tuple[float, int]] = []  # (monotonic time, first byte) of say()s
        self.started: list[float] = []  # monotonic times of frames where a sound begins
        self._sounding = False

    def say(self, pcm: bytes) -> None:
        """Queue `pcm` to be played after what is already queued."""
        self.sent_at.append((time.monotonic(), len(self._pending)))
        self._pending += pcm

    @property
    def idle(self) -> bool:
        return not self._pending

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._pts += _FRAME
            due = self._start + self._pts / _RATE
            if due > now:
                await asyncio.sleep(due - now)
        chunk = bytes(self._pending[: _FRAME * 2])
        del self._pending[: _FRAME * 2]
        if chunk.strip(b"\x00") and not self._sounding:
            self.started.append(time.monotonic())  # a sound begins in this frame
        self._sounding = bool(chunk.strip(b"\x00"))
        chunk += bytes(_FRAME * 2 - len(chunk))
        # 48 kHz stereo, as a browser's capture is: aiortc's encoder then passes the frame
        # through (each 24 kHz sample held for two, on both channels)
        wide = b"".join(chunk[i : i + 2] * 4 for i in range(0, len(chunk), 2))
        return pcm_frame(wide, 2 * _RATE, 2 * self._pts, channels=2)


class RtcClient:
    """One call from the client side: events in and out, audio in and out."""

    def __init__(self, pc: RTCPeerConnection, channel: Any, mic: Microphone) -> None:
        self.pc, self.channel, self.mic = pc, channel, mic
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []  # monotonic arrival time of each event
        self._arrived = asyncio.Event()
        self.opened = asyncio.Event()
        self.heard: list[tuple[float, int]] = []  # (monotonic time, peak |sample|) per frame
        self.location: str | None = None
        self._speaker: asyncio.Task[None] | None = None
        channel.on("message", self._on_message)
        channel.on("open", self.opened.set)

    def _on_message(self, message: str | bytes) -> None:
        assert isinstance(message, str), "the proxy sends text events only"
        self.events.append(orjson.loads(message))
        self.times.append(time.monotonic())
        self._arrived.set()

    def send(self, **event: Any) -> None:
        self.channel.send(orjson.dumps(event).decode())

    async def until(self, kind: str, start: int = 0) -> list[dict[str, Any]]:
        """Events from index `start` up to and including the first of type `kind`."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                for index in range(start, len(self.events)):
                    if self.events[index]["type"] == kind:
                        return self.events[start : index + 1]
                self._arrived.clear()
                await self._arrived.wait()

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    def time_of(self, kind: str, start: int = 0) -> float:
        """Arrival time of the first event of type `kind` from index `start`."""
        return next(
            t
            for e, t in zip(self.events[start:], self.times[start:], strict=True)
            if e["type"] == kind
        )

    def listen(self, track: MediaStreamTrack) -> None:
        async def speaker() -> None:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                samples = memoryview(bytes(frame.planes[0])[: frame.samples * 4]).cast("h")
                self.heard.append((time.monotonic(), max(map(abs, samples), default=0)))

        self._speaker = asyncio.get_running_loop().create_task(speaker())

    def loud_frames(self, since: float = 0.0, threshold: int = 500) -> int:
        """Frames heard after `since` (monotonic) whose peak is above `threshold`."""
        return sum(1 for at, peak in self.heard if at >= since and peak > threshold)

    async def close(self) -> None:
        await self.pc.close()
        if self._speaker is not None:
            self._speaker.cancel()
            await asyncio.gather(self._speaker, return_exceptions=True)


def client_peer() -> RTCPeerConnection:
    """A client peer connection with no STUN server (aiortc's default is a public one) and
    with a data channel `oai-events` and a `Microphone`, as OpenAI's browser flow makes."""
    pc = RTCPeerConnection(ice_configuration(WebRTCConfig()))
    pc.createDataChannel("oai-events")
    pc.addTrack(Microphone())
    return pc


async def offer(pc: RTCPeerConnection) -> str:
    """Create and apply the offer; return it as a browser would post it."""
    restrict_gathering(pc, LOOPBACK, lambda *a, **k: None)
    await pc.setLocalDescription(await pc.createOffer())
    return strip_candidates(pc.localDescription.sdp)


@asynccontextmanager
async def rtc_call(
    url: Any,
    *,
    headers: dict[str, str] | None = None,
    session: dict[str, Any] | None = None,
    expect_open: bool = True,
) -> AsyncIterator[RtcClient]:
    """Place a call to `url` (`/v1/realtime/calls`); yield the client once its data channel is
    open (`expect_open`); hang up on exit. `session`: sent as the multipart `session` part."""
    pc = RTCPeerConnection(ice_configuration(WebRTCConfig()))  # no public STUN server
    channel = pc.createDataChannel("oai-events")
    mic = Microphone()
    pc.addTrack(mic)
    client = RtcClient(pc, channel, mic)
    pc.on("track", client.listen)
    try:
        sdp = await offer(pc)
        async with aiohttp.ClientSession() as http:
            if session is None:
                kwargs: dict[str, Any] = {"data": sdp.encode()}
                all_headers = {"Content-Type": "application/sdp", **(headers or {})}
            else:
                form = aiohttp.FormData()
                form.add_field("sdp", sdp, content_type="application/sdp")
                form.add_field("session", orjson.dumps(session).decode())
                kwargs, all_headers = {"data": form}, dict(headers or {})
            async with http.post(url, headers=all_headers, **kwargs) as response:
                body = await response.text()
                assert response.status == 201, (response.status, body)
                assert response.content_type == "application/sdp"
                client.location = response.headers["Location"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        if expect_open:
            async with asyncio.timeout(TIMEOUT):
                await client.opened.wait()
        yield client
    finally:
        await client.close()

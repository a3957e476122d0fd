"""The WebRTC call shell: the only code that holds both a peer connection and an upstream link.

It is to a WebRTC client what `proxy.session.relay.Relay` is to a WebSocket client, around the
same sans-I/O core (`proxy.core.translate.Translator`) and the same upstream dial
(`proxy.session.route.SessionRoute.dial`); what OpenAI does differently on WebRTC is in
docs/protocol-notes.md#openai-webrtc-events:

- data channel `oai-events`: each client event goes through the translator exactly as a
  WebSocket frame would; each server event the translator lets through goes out on the
  channel, except audio deltas. Events for the client wait, in order, until the channel is
  open, so the first one it sees is `session.created`; client events wait until the upstream
  has been sent the proxy's initial `session.update`;
- microphone: the remote track's frames become `input_audio_buffer.append` events upstream
  (`proxy.webrtc.audio.MicEncoder`), in `webrtc.input_batch_ms` batches;
- speaker: audio deltas are decoded into the `Playout` buffer that the outgoing track
  (`proxy.webrtc.track.PlayoutTrack`) plays in real time; it reports
  `output_audio_buffer.started` / `.stopped`; server-VAD `speech_started` and the client's
  `output_audio_buffer.clear` clear it at once (`.cleared`) and truncate the cut item upstream.

Lifecycle: `answer()` builds the peer connection and returns the SDP answer; `run()` dials the
upstream and serves until either side ends (peer connection closed or failed, data channel
closed, upstream closed, a `[limits]` timer, ICE not connected within
`webrtc.connect_timeout`, `shut_down()`); then the peer connection (with its tracks and
sockets) and the upstream link are closed together, each within `limits.close_timeout`.
No task outlives `run()`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import av
import orjson
import structlog
from aiortc import (
    MediaStreamTrack,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from proxy.config import LimitsConfig
from proxy.config.types import WebRTCConfig
from proxy.core.commands import FORWARD, CloseClient, Command, ToClient, ToUpstream
from proxy.core.error_events import limit_error
from proxy.core.sniff import sniff_type
from proxy.core.translate import Translator
from proxy.metrics.calls import CallMetrics
from proxy.metrics.observe import SessionObserver
from proxy.session.ending import SessionEnd, serve_until, upstream_refused
from proxy.session.relay import Dial
from proxy.session.watchdog import watch
from proxy.upstream.inworld import UpstreamRefused
from proxy.webrtc.audio import OUT_CHANNELS, OUT_RATE, MicEncoder, SpeakerDecoder, audio_format
from proxy.webrtc.ice import ice_configuration, restrict_gathering
from proxy.webrtc.jitter import short_jitter_buffer
from proxy.webrtc.playout import Playout
from proxy.webrtc.stats import CallStats
from proxy.webrtc.track import PlayoutTrack

__all__ = ["CHANNEL", "Call"]

CHANNEL = "oai-events"
STATS_INTERVAL = 5.0  # seconds between two statistics samples of a live call
_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
_CLEAR = "output_audio_buffer.clear"


class Call:
    """One WebRTC call bridged to one upstream session (see the module docstring).

    Args:
        webrtc: `[webrtc]` (ICE servers, addresses, ports, connect deadline, batch size).
        limits: `[limits]` (idle, duration, start deadline, queue bound, close patience).
        dial: opens the upstream link (`SessionRoute.dial` bound to this session).
        translator: the session's sans-I/O core.
        log: bound to the session; never given audio or credentials.
        observer: the session's metrics observer (`transport="webrtc"`).
        metrics: the call families (ICE failures, packets, jitter).
        on_audio: bench hook, told when a mic batch goes upstream and a frame with audio
            is played (None in production).
    """

    def __init__(
        self,
        *,
        webrtc: WebRTCConfig,
        limits: LimitsConfig,
        dial: Dial,
        translator: Translator,
        log: structlog.typing.FilteringBoundLogger,
        observer: SessionObserver,
        metrics: CallMetrics,
        on_audio: Callable[[str, float, bytes], None] | None = None,
    ) -> None:
        self._cfg, self._limits = webrtc, limits
        self._dial, self._translator, self._log = dial, translator, log
        self._observer, self._metrics = observer, metrics
        self._on_audio = on_audio
        self._stats = CallStats(metrics)
        self._playout = Playout(rate=OUT_RATE, channels=OUT_CHANNELS)
        self._mic = MicEncoder(batch_ms=webrtc.input_batch_ms)
        self._speaker = SpeakerDecoder()
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self._mic_track: MediaStreamTrack | None = None
        self._track: PlayoutTrack | None = None
        self._has_mic = asyncio.Event()
        self._connected = asyncio.Event()
        self._upstream_ready = asyncio.Event()
        self._done = asyncio.Event()
        self._upstream: Any = None  # the Link, once open
        self._ready: Any = None  # the Link, once started: client events may go up
        self._early: list[bytes] = []  # client events and mic batches before then
        self._outbox: list[str] = []  # events for the client before its channel opens
        self._outbox_bytes = 0
        self._close_upstream: tuple[int, str] = (1000, "")
        self._activity = 0
        self.end = SessionEnd()

    # -- signalling ---------------------------------------------------------------------------

    async def answer(self, offer: str) -> str:
        """Accept `offer` (checked by `proxy.webrtc.sdp.check_offer`); return the SDP answer
        with every local candidate. Raises ValueError when aiortc cannot use the offer (the
        caller then `close()`s the call)."""
        pc = self._pc = RTCPeerConnection(ice_configuration(self._cfg))
        pc.on("datachannel", self._on_channel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        on_frame = None
        if self._on_audio is not None:
            hook = self._on_audio
            on_frame = lambda at, pcm: hook("down", at, pcm)  # noqa: E731
        self._track = PlayoutTrack(self._playout, self._emit, on_frame=on_frame)
        pc.addTrack(self._track)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        restrict_gathering(pc, self._cfg, self._log.warning)
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> SessionEnd:
        """Serve the call until either side ends; close everything; return how it ended."""
        watchdog = watch(
            self._limits,
            ready=self._upstream_ready,
            started=lambda: self._translator.started,
            activity=lambda: self._activity,
            expire=self._expire,
        )
        jobs = [
            (self._open_upstream(), "call-upstream-open"),
            (watchdog, "call-watchdog"),
            (self._connect_deadline(), "call-connect"),
            (self._pump_mic(), "call-mic"),
            (self._sample_stats(), "call-stats"),
        ]
        try:
            await serve_until(self._done, jobs)
        except asyncio.CancelledError:
            self.end.reason = self.end.reason or "proxy stopped"
            self._finish("proxy", upstream=(1001, "proxy stopped"))
            raise
        finally:
            await self.close()
        return self.end

    def shut_down(self, code: int = 1001, reason: str = "proxy shutting down") -> None:
        """End the call from outside (the proxy is stopping, or the client hung up)."""
        self.end.reason = self.end.reason or reason
        self._finish("proxy", upstream=(code, reason))

    def _finish(self, ended_by: str, *, upstream: tuple[int, str] = (1000, "")) -> None:
        if self._done.is_set():
            return
        self.end.ended_by = ended_by
        self._close_upstream = upstream
        self._done.set()
        if self._upstream is not None:
            self._upstream.detach()

    async def close(self) -> None:
        """Close the peer connection (tracks, ICE sockets, data channel) and the upstream at
        once, each within `limits.close_timeout`. Safe to call twice."""
        closing = []
        upstream, self._upstream, self._ready = self._upstream, None, None
        if upstream is not None:
            code, reason = self._close_upstream
            if upstream.ended is None:
                self.end.upstream_code = self.end.upstream_code or code
            closing.append(upstream.close(code, reason, self._limits.close_timeout))
        pc, self._pc = self._pc, None
        if pc is not None:
            closing.append(self._close_peer(pc))
        await asyncio.gather(*closing)

    async def _close_peer(self, pc: RTCPeerConnection) -> None:
        with contextlib.suppress(Exception):  # a stats failure must not keep the peer open
            self._stats.sample(await pc.getStats())
        try:
            async with asyncio.timeout(self._limits.close_timeout):
                await pc.close()
        except TimeoutError:
            self._log.warning("webrtc_close_timeout")

    @property
    def stats(self) -> dict[str, int]:
        """Packets received and lost per direction (for the closing log line)."""
        return self._stats.totals

    # -- peer connection events ---------------------------------------------------------------

    def _on_state(self) -> None:
        pc = self._pc
        state = pc.connectionState if pc is not None else "closed"
        if state == "connected":
            self._connected.set()
        elif state == "failed" and not self._connected.is_set():
            self._ice_failed("failed")
        elif state in ("failed", "closed"):
            self.end.reason = self.end.reason or f"peer connection {state}"
            self._finish("client")

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label != CHANNEL or self._channel is not None:
            return  # OpenAI's clients open exactly one channel, `oai-events`
        self._channel = channel
        channel.on("message", self._from_client)
        channel.on("close", self._channel_closed)
        if channel.readyState == "open":  # aiortc may hand it over already open
            self._flush_outbox()
        else:
            channel.on("open", self._flush_outbox)

    def _channel_closed(self) -> None:
        self.end.reason = self.end.reason or "data channel closed"
        self._finish("client")

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._mic_track is None:
            self._mic_track = track
            pc = self._pc
            for receiver in pc.getReceivers() if pc is not None else ():
                if receiver.track is track:
                    short_jitter_buffer(receiver)
            self._has_mic.set()

    async def _connect_deadline(self) -> None:
        try:
            async with asyncio.timeout(self._cfg.connect_timeout):
                await self._connected.wait()
        except TimeoutError:
            self._ice_failed("timeout")

    def _ice_failed(self, reason: str) -> None:
        self._metrics.ice_failures.labels(reason).inc()
        self._log.warning("webrtc_ice_failed", reason=reason, timeout_s=self._cfg.connect_timeout)
        self.end.reason = f"ICE/DTLS did not connect ({reason})"
        self._finish("proxy")

    async def _sample_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            pc = self._pc
            if pc is not None and self._connected.is_set():
                self._stats.sample(await pc.getStats())

    # -- upstream -----------------------------------------------------------------------------

    async def _open_upstream(self) -> None:
        try:
            upstream = await self._dial()
        except UpstreamRefused as exc:
            event, _, _ = upstream_refused(self.end, exc, self._translator.provider)
            self._send_client(orjson.dumps(event))
            self._finish("upstream")
            return
        self._upstream = upstream
        if self._done.is_set():
            upstream.detach()
            return
        for command in self._translator.start():
            assert isinstance(command, ToUpstream)
            upstream.send_text(_utf8(command.text))
        upstream.attach(self._from_upstream, self._from_upstream_binary, self._upstream_closed)
        self._ready = upstream
        self._upstream_ready.set()
        early, self._early = self._early, []
        for data in early:
            if self._done.is_set():
                return
            self._from_client_bytes(data)

    def _from_upstream(self, data: bytes, raw: bytes | None) -> None:
        self.end.frames_down += 1
        self._activity += 1
        kind = sniff_type(data)
        if kind in _DELTAS:  # to the speaker, never to the channel (OpenAI sends none)
            self._observer.from_upstream("response.output_audio.delta", data, None)
            event = orjson.loads(data)
            audio = base64.b64decode(event.get("delta") or "")
            pcm = self._speaker.decode(audio)
            idle = not self._playout.queued
            for out in self._playout.push(event.get("response_id"), event.get("item_id"), pcm):
                self._emit(out)
            if idle and self._track is not None:
                self._track.nudge()
            return
        translator = self._translator
        self._execute(translator.from_upstream(data), data, going_up=False)
        self._observer.from_upstream(translator.last_type, data, translator.last_event)
        if kind == "input_audio_buffer.speech_started":
            self._clear(always=False)  # barge-in: what the user hears stops now
        elif kind in ("response.done", "session.created", "session.updated"):
            event = translator.last_event or orjson.loads(data)
            if kind == "response.done":
                response = event.get("response")
                rid = response.get("id") if isinstance(response, dict) else None
                for out in self._playout.response_done(rid):
                    self._emit(out)
            else:
                self._session_formats(event.get("session"))

    def _from_upstream_binary(self, data: bytes) -> None:
        self.end.frames_down += 1
        self._execute(self._translator.from_upstream_binary(data), b"", going_up=False)

    def _upstream_closed(self, code: int, reason: str, broken: bool) -> None:
        self.end.upstream_code = code
        self.end.reason = reason or "upstream closed"
        if code == 1006:
            error = limit_error("upstream_connection_lost", self._translator.provider)
            self._send_client(_utf8(error))
        self._finish("upstream")

    def _session_formats(self, session: Any) -> None:
        if not isinstance(session, dict):
            return
        audio = session.get("audio")
        audio = audio if isinstance(audio, dict) else {}
        for side, codec in (("input", self._mic), ("output", self._speaker)):
            part = audio.get(side)
            fmt = audio_format(part.get("format") if isinstance(part, dict) else None)
            if fmt is not None:
                codec.set_format(fmt)

    # -- client -------------------------------------------------------------------------------

    def _from_client(self, message: str | bytes) -> None:
        self._activity += 1
        if isinstance(message, bytes):
            self._execute(self._translator.from_client_binary(message), b"")
            return
        self._from_client_bytes(message.encode())

    def _from_client_bytes(self, data: bytes) -> None:
        upstream = self._ready
        if upstream is None or self._early:
            self._early.append(data)
            return
        self.end.frames_up += 1
        if data.startswith(b'{"type":"input_audio_buffer.append"'):  # a mic batch
            self._observer.append_from_client(data)
            self._send_upstream(data)
            return
        translator = self._translator
        if sniff_type(data) == _CLEAR:  # OpenAI's WebRTC-only event: the buffer is here
            self._observer.from_client(_CLEAR, data, None)
            self._clear(always=True)
            return
        self._execute(translator.from_client(data), data)
        self._observer.from_client(translator.last_type, data, translator.last_event)

    async def _pump_mic(self) -> None:
        await self._has_mic.wait()
        track = self._mic_track
        assert track is not None
        hook = self._on_audio
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return  # the peer connection is closing
            if not isinstance(frame, av.AudioFrame):
                continue
            for append in self._mic.feed(frame):
                if hook is not None:
                    hook("up", asyncio.get_running_loop().time(), append)
                self._activity += 1
                self._from_client_bytes(append)

    # -- output ---------------------------------------------------------------------------

    def _execute(self, commands: Sequence[Command], data: bytes, *, going_up: bool = True) -> None:
        if commands is FORWARD:
            if going_up:
                self._send_upstream(data)
            else:
                self._send_client(data)
            return
        for command in commands:
            match command:
                case ToUpstream(text):
                    self._send_upstream(_utf8(text))
                case ToClient(text):
                    self._send_client(_utf8(text))
                case CloseClient(_, reason):
                    self.end.reason = reason
                    self._finish("proxy")
                case _:  # BINARY frames have no place on a call; FORWARD is handled above
                    pass

    def _send_upstream(self, data: bytes) -> None:
        upstream = self._ready
        if upstream is None or self._done.is_set():
            return
        if upstream.buffered() > self._limits.max_queued_bytes:
            self._slow_reader("upstream")
            return
        upstream.send_text(data)

    def _emit(self, event: dict[str, Any]) -> None:
        self._send_client(orjson.dumps(event))

    def _send_client(self, data: bytes) -> None:
        channel, text = self._channel, data.decode()
        if channel is None or channel.readyState != "open" or self._outbox:
            self._outbox.append(text)
            self._outbox_bytes += len(data)
            if self._outbox_bytes > self._limits.max_queued_bytes:
                self._slow_reader("client")
            return
        if channel.bufferedAmount > self._limits.max_queued_bytes:
            self._slow_reader("client")
            return
        channel.send(text)

    def _flush_outbox(self) -> None:
        channel = self._channel
        outbox, self._outbox, self._outbox_bytes = self._outbox, [], 0
        if channel is None:
            return
        for text in outbox:
            channel.send(text)

    def _clear(self, *, always: bool) -> None:
        cleared = self._playout.clear(always=always)
        for event in cleared.events:
            self._emit(event)
        if cleared.truncation is not None:
            self._send_upstream(orjson.dumps(cleared.truncation.event()))
        if cleared.finished:  # a response still in flight is counted when it is cancelled
            self._observer.count_barge_in("client_cancel" if always else "turn_detected")

    def _slow_reader(self, who: str) -> None:
        if self._done.is_set():
            return
        self.end.reason = f"{who} reads too slowly (limits.max_queued_bytes)"
        self._log.warning("slow_reader", peer=who, max_queued_bytes=self._limits.max_queued_bytes)
        self._finish("proxy")

    async def _expire(self, code: str, close_code: int, reason: str) -> None:
        self.end.reason = reason
        self._log.info("session_limit", limit=code)
        self._send_client(_utf8(limit_error(code, self._translator.provider)))
        self._finish("proxy", upstream=(1000, reason))


def _utf8(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text

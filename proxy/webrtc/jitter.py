"""The microphone's jitter buffer: decode each packet as it arrives.

aiortc's audio receiver holds a frame until four later frames have arrived (80 ms added to
everything the user says; docs/protocol-notes.md#webrtc-aiortc). An Opus RTP packet is a whole
frame, and the upstream buffers audio itself, so the bridge hands each packet to the decoder at
once and drops one that arrives behind a newer one (as if lost).
"""

from __future__ import annotations

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

__all__ = ["short_jitter_buffer"]


class _NoWaitBuffer(JitterBuffer):
    """An audio jitter buffer that waits for nothing: each Opus RTP packet is a whole frame, so
    it goes to the decoder as soon as it arrives; a packet older than one already handed over
    is dropped (like a lost one: the upstream's VAD and STT ride over it)."""

    def __init__(self) -> None:
        super().__init__(capacity=16)
        self._last: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        sequence = packet.sequence_number
        if self._last is not None and not 0 < (sequence - self._last) % 65536 < 32768:
            return False, None  # reordered behind a newer packet, or repeated
        self._last = sequence
        data: bytes = getattr(packet, "_data", b"")
        return False, JitterFrame(data=data, timestamp=packet.timestamp)


def short_jitter_buffer(receiver: RTCRtpReceiver) -> None:
    """Hand the microphone's frames to the decoder as they arrive.

    aiortc's audio jitter buffer releases a frame once four later frames have arrived: 80 ms
    added to every word the user says (docs/protocol-notes.md#webrtc-aiortc). The bridge
    decodes each packet at once (`_NoWaitBuffer`); the upstream buffers audio anyway. Left
    alone if aiortc's internals change.
    """
    name = "_RTCRtpReceiver__jitter_buffer"
    if isinstance(getattr(receiver, name, None), JitterBuffer):
        setattr(receiver, name, _NoWaitBuffer())

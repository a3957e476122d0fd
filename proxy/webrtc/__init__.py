"""WebRTC calls: OpenAI's browser WebRTC flow, bridged to the upstream's WebSocket session.

The optional `webrtc` extra (aiortc, PyAV): aiortc and PyAV are imported by this package's
modules only, and `proxy.web.calls` imports them lazily, answering `501` without the extra.
Importing this package itself imports neither.

- `sdp`, `offer`: pure checks of the signalling request (the offer, the request forms);
- `playout`: the outgoing audio buffer and its `output_audio_buffer.*` events (pure);
- `audio`, `track`, `ice`, `jitter`, `stats`: PyAV conversions, the paced outgoing track, ICE
  options, the microphone's no-wait jitter buffer, statistics to metrics;
- `call`: the call shell, the only WebRTC code holding both the peer connection and the
  upstream link.
"""

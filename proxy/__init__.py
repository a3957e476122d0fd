"""inworld-realtime-proxy: unchanged OpenAI Realtime clients talk to the Inworld Realtime API.

Layout (one concern per module):

- `config`: frozen configuration from TOML + environment (the only reader of either);
- the sans-I/O core (frames in, commands out; no asyncio, no aiohttp): `sniff`, `translate`,
  `rewrite`, `dialect`, `correlate`, `validate`, `errors`, `commands`, `passthrough`,
  `routing`, `auth`, `tokens`, `observe`, `audio_size`, `event_types`, `frames` (WebSocket
  framing);
- the I/O shell: `relay` (both links, limits), `link` (one WebSocket connection once its
  handshake is done), `dial` (the upstream handshake), `handover` (the client's upgrade, handed over
  to a link), `session` (one connection's lifecycle), `route_session` (variant and fallback
  dial), `upstream` and `providers` (the dials), `guard` (auth middleware), `rest` and `chat`
  (HTTP endpoints), `drain`, `reload`;
- wiring and operations: `app`, `appkeys`, `cli`, `translate_cmd`, `probe`, `log`, `metrics`,
  `route_metrics`;
- `emulator`: the offline Inworld endpoint.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"

"""inworld-realtime-proxy: unchanged OpenAI Realtime clients talk to the Inworld Realtime API.

Layout (one concern per module):

- `config`: frozen configuration from TOML + environment (the only reader of either);
- `sniff`, `rewrite`, `translate`, `errors`, `commands`: the sans-I/O core (frames in,
  commands out; no asyncio, no aiohttp);
- `upstream`, `relay`, `session`: the I/O shell (the Inworld dial, the two pumps, one
  connection's lifecycle);
- `app`, `appkeys`, `cli`: wiring; `log`, `metrics`: observability;
- `emulator`: the offline Inworld endpoint.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"

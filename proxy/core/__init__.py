"""The sans-I/O translation core: frames in, commands out.

No asyncio, aiohttp, structlog or prometheus_client here, and nothing from `proxy` but
`proxy.config` (a test follows the imports). The relay (`proxy.session.relay`) feeds each frame
to a `translate.Translator` and executes the `commands` it returns.

- `events`: the one vocabulary of event names (OpenAI's, Inworld's, the legacy renames);
- `sniff`: an event's `type` without parsing the frame; `translate`: the per-session
  translator (and the "forward unchanged?" decision); `passthrough`: the OpenAI pass-through
  mode; `rewrite`: session/response rewriting rules; `dialect`: beta <-> GA; `validate`: field
  type checks; `correlate`: metadata and event-id fix-ups; `error_events`: OpenAI-shaped
  `error` events and close codes; `commands`: the outputs.
"""

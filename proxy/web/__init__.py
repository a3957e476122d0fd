"""The HTTP side: the aiohttp application, its handlers and their guards.

- `app`: the application factory; `appkeys`: typed app state; `realtime`: the `/v1/realtime`
  WebSocket handler; `guard`: auth/Origin/CORS middleware with the rules in `auth` and
  `tokens`; `client_secrets`: token minting endpoints and the demo page (`static/`);
  `router_rest`: REST passthrough to the Inworld Router; `drain`, `reload`: SIGTERM and SIGHUP;
  `logs`: structlog set-up and redaction.
"""

"""RFC 6455 on raw asyncio transports, and nothing about OpenAI or Inworld.

- `frames`: the sans-I/O frame parser and encoder;
- `link`: one open WebSocket connection (either side) on a transport;
- `dial`: the client side of the opening handshake; `handover`: the server side, answered by
  aiohttp and then handed over to a `Link`;
- `utf8`: the UTF-8 checks of TEXT messages; `budget`: memory budgets and deadlines for
  unfinished messages.
"""

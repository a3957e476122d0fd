"""One text turn through the proxy with the official OpenAI Python SDK, unchanged.

Start the proxy first (`inworld-realtime-proxy --emulator`, or with your Inworld keys), then:

    pip install 'openai[realtime]'
    python examples/first_turn.py

PROXY_URL overrides the proxy's address (default ws://127.0.0.1:8080/v1) and OPENAI_API_KEY the
key sent to it (any value works while the proxy has no client keys of its own).
"""

from __future__ import annotations

import asyncio
import os

from openai import AsyncOpenAI


async def main() -> None:
    client = AsyncOpenAI(
        api_key=os.environ.get("OPENAI_API_KEY", "sk-local"),
        websocket_base_url=os.environ.get("PROXY_URL", "ws://127.0.0.1:8080/v1"),
    )
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hello from the first turn"}],
            }
        )
        await conn.response.create()
        async for event in conn:
            if event.type == "session.created":
                print(f"session.created: model={event.session.model}")
            elif event.type == "response.output_text.delta":
                print(event.delta, end="", flush=True)
            elif event.type == "response.done":
                print(f"\nresponse.done: status={event.response.status}")
                break
            elif event.type == "error":
                print(f"error: {event.error.code}: {event.error.message}")
                break


if __name__ == "__main__":
    asyncio.run(main())

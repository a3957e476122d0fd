"""Echo upstream: just enough of Inworld's realtime endpoint for the proxy, and fast.

- `session.created` as soon as a socket opens;
- `session.update` answered with `session.updated` (carrying the session it was sent);
- each `input_audio_buffer.append` echoed as one `response.output_audio.delta` whose `delta` is
  the very same base64 audio (sliced out of the frame, never parsed);
- everything else ignored.

Runs as its own process (`python -m bench.echo --port N`) so that its CPU is not charged to
the load generator or to the middle process. Permessage-deflate is never negotiated.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import orjson
from aiohttp import WSMsgType, web

__all__ = ["create_echo_app", "main"]

_APPEND_HEAD = b'{"type":"input_audio_buffer.append"'
_AUDIO_KEY = b'"audio":"'
_DELTA_HEAD = (
    b'{"type":"response.output_audio.delta","event_id":"event_bench","response_id":"resp_bench",'
    b'"item_id":"item_bench","output_index":0,"content_index":0,"delta":"'
)
_CREATED = orjson.dumps(
    {
        "type": "session.created",
        "event_id": "event_created",
        "session": {"id": "sess_bench", "type": "realtime", "model": "bench/echo"},
    }
)


def _audio_of(frame: bytes) -> bytes | None:
    """The base64 audio of an append frame, sliced without parsing; None if not one."""
    start = frame.find(_AUDIO_KEY)
    if start < 0:
        return None
    start += len(_AUDIO_KEY)
    end = frame.find(b'"', start)
    return frame[start:end] if end > start else None


async def _echo(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=16 * 1024 * 1024, decode_text=False)
    await ws.prepare(request)
    await ws.send_frame(_CREATED, WSMsgType.TEXT)
    async for msg in ws:
        if msg.type is not WSMsgType.TEXT:
            continue
        data: bytes = msg.data
        if data.startswith(_APPEND_HEAD) and (audio := _audio_of(data)) is not None:
            await ws.send_frame(b"".join((_DELTA_HEAD, audio, b'"}')), WSMsgType.TEXT)
            continue
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("type") == "session.update":
            answer = {
                "type": "session.updated",
                "event_id": "event_updated",
                "session": event.get("session") or {},
            }
            await ws.send_frame(orjson.dumps(answer), WSMsgType.TEXT)
    return ws


def create_echo_app() -> web.Application:
    """The echo upstream: a WebSocket on every path."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", _echo)
    return app


async def _serve(host: str, port: int) -> None:
    runner = web.AppRunner(create_echo_app(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    print(f"echo listening on {host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    """`python -m bench.echo --port N`: serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(args.host, args.port))
    else:
        uvloop.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()

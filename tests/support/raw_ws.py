"""WebSocket peers written byte by byte, for what real client libraries never send.

A raw client (`raw_client`) and a raw upstream server (`RawUpstream`) on loopback: each does
the opening handshake by hand and then reads and writes raw frames, so a test can send half
a frame and stop, declare a frame bigger than it sends, send bytes that are not UTF-8, or send
a Close frame and reset the TCP connection at once (`reset`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

from proxy.ws.dial import expected_accept
from proxy.ws.frames import CLOSE, TEXT, encode, parse_close

__all__ = [
    "RawUpstream",
    "Script",
    "client_frame",
    "header",
    "raw_client",
    "read_frame",
    "read_until_close",
    "reset",
    "server_frame",
]

TIMEOUT = 10
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def client_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked frame, as a client sends it."""
    data = encode(opcode, payload, key=os.urandom(4))
    return data if fin else bytes((data[0] & 0x7F,)) + data[1:]


def server_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """An unmasked frame, as a server sends it."""
    data = encode(opcode, payload)
    return data if fin else bytes((data[0] & 0x7F,)) + data[1:]


def header(opcode: int, length: int, *, masked: bool) -> bytes:
    """Only the header of a FIN frame declaring `length` payload bytes (zero mask key)."""
    mask = 0x80 if masked else 0
    if length < 126:
        head = bytes((0x80 | opcode, mask | length))
    elif length < 1 << 16:
        head = bytes((0x80 | opcode, mask | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, mask | 127)) + length.to_bytes(8, "big")
    return head + (b"\0\0\0\0" if masked else b"")


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next frame's (opcode, payload); unmasks a masked one."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    key = await reader.readexactly(4) if second & 0x80 else None
    payload = bytearray(await reader.readexactly(length))
    if key is not None:
        for i in range(len(payload)):
            payload[i] ^= key[i % 4]
    return first & 0x0F, bytes(payload)


async def read_until_close(reader: asyncio.StreamReader) -> tuple[list[bytes], tuple[int, str]]:
    """TEXT payloads until a Close frame; (those, the Close's (code, reason))."""
    texts: list[bytes] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == CLOSE:
                return texts, parse_close(payload)
            if opcode == TEXT:
                texts.append(payload)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0) right after what was written so far."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _headers(reader: asyncio.StreamReader) -> dict[str, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}


@contextlib.asynccontextmanager
async def raw_client(
    host: str, port: int, path: str = "/v1/realtime"
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A client connection after a hand-made upgrade (the 101 checked); closed on exit."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    writer.write(request.encode())
    try:
        async with asyncio.timeout(TIMEOUT):
            status = await reader.readline()
            assert status.startswith(b"HTTP/1.1 101"), status
            headers = await _headers(reader)
        assert headers["sec-websocket-accept"] == expected_accept(key)
        yield reader, writer
    finally:
        writer.transport.abort()


@dataclasses.dataclass
class RawUpstream:
    """A WebSocket server on 127.0.0.1 that answers each upgrade, then runs `script`."""

    script: Script
    server: asyncio.Server | None = None
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    errors: list[BaseException] = dataclasses.field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/v1/realtime"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()  # the request line
            key = (await _headers(reader))["sec-websocket-key"]
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + expected_accept(key).encode()
                + b"\r\n\r\n"
            )
            await self.script(reader, writer)
        except Exception as exc:  # the test looks at `errors`
            self.errors.append(exc)
        finally:
            writer.transport.abort()
            self.done.set()

    async def __aenter__(self) -> RawUpstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

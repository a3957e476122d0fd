"""One voice turn through the proxy with the official OpenAI Python SDK, unchanged.

Start the proxy first (`inworld-realtime-proxy --emulator`, or with your Inworld keys), then:

    pip install 'openai[realtime]'
    python examples/first_turn.py [speech.wav]

The user's turn is audio: the WAV file given (mono PCM16 at 24 kHz, e.g. made with
`espeak-ng -w hi.wav "Hello there" && sox hi.wav -r 24000 -c 1 -b 16 speech.wav`), or else a
short generated tone, which the emulator takes for speech (it transcribes any speech as the same
sentence; real Inworld needs real speech). Server VAD ends the turn; the reply comes back as
audio with its transcript.

PROXY_URL overrides the proxy's address (default ws://127.0.0.1:8080/v1) and OPENAI_API_KEY the
key sent to it (any value works while the proxy has no client keys of its own).
"""

from __future__ import annotations

import asyncio
import base64
import math
import os
import struct
import sys
import wave

from openai import AsyncOpenAI

RATE = 24_000  # PCM16 mono at 24 kHz: OpenAI's default input and output format
CHUNK = RATE // 50 * 2  # 20 ms of audio, in bytes


def user_audio() -> bytes:
    """The user's turn: the WAV named on the command line, else 0.6 s of tone; then 0.6 s of
    silence so that server VAD ends the turn."""
    if len(sys.argv) > 1:
        with wave.open(sys.argv[1], "rb") as wav:
            if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (RATE, 1, 2):
                raise SystemExit("the WAV file must be mono PCM16 at 24 kHz")
            speech = wav.readframes(wav.getnframes())
    else:
        samples = (
            int(8000 * math.sin(2 * math.pi * 220 * n / RATE)) for n in range(RATE * 6 // 10)
        )
        speech = b"".join(struct.pack("<h", s) for s in samples)
    return speech + bytes(RATE * 6 // 10 * 2)


async def main() -> None:
    client = AsyncOpenAI(
        api_key=os.environ.get("OPENAI_API_KEY", "sk-local"),
        websocket_base_url=os.environ.get("PROXY_URL", "ws://127.0.0.1:8080/v1"),
    )
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {
                        "transcription": {"model": "gpt-4o-transcribe"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
                    },
                    "output": {"voice": "marin"},
                },
            }
        )
        audio = user_audio()
        for start in range(0, len(audio), CHUNK):  # as a microphone would, 20 ms at a time
            chunk = base64.b64encode(audio[start : start + CHUNK]).decode()
            await conn.input_audio_buffer.append(audio=chunk)
        reply_bytes = 0
        async for event in conn:
            if event.type == "session.created":
                print(f"session.created: model={event.session.model}")
            elif event.type == "conversation.item.input_audio_transcription.completed":
                print(f"you said: {event.transcript}")
            elif event.type == "response.output_audio.delta":
                reply_bytes += len(base64.b64decode(event.delta))
            elif event.type == "response.output_audio_transcript.done":
                print(f"reply: {event.transcript}")
            elif event.type == "response.done":
                seconds = reply_bytes / (RATE * 2)
                print(f"response.done: status={event.response.status}, audio={seconds:.1f} s")
                break
            elif event.type == "error":
                print(f"error: {event.error.code}: {event.error.message}")
                break


if __name__ == "__main__":
    asyncio.run(main())

"""Built-in Inworld emulator: an offline stand-in for Inworld's realtime WebSocket endpoint.

It speaks Inworld's dialect of the OpenAI Realtime GA protocol and rejects what Inworld
rejects (OpenAI model and voice ids, unknown STT/TTS models, bad credentials), so a test
that passes through it proves the proxy's translation. It never imports the proxy's own
translation code: it stands for the far side.

Architecture (sans-I/O core, thin shell):

- ``engine.EmulatorSession`` is the pure per-connection state machine: client frames in,
  server events out; responses are pulled in batches so the shell can pace them.
- ``server.create_emulator_app(settings)`` is the aiohttp shell serving
  ``GET /api/v1/realtime/session``: handshake checks, frame I/O, pacing, pings, and the
  ``EMULATOR_SESSIONS`` registry that tests inspect. The same application serves the Router's
  REST endpoints (``router``) and the voices API (``voices``: list, get, delete, clone, with
  ``samples`` checking clone audio and ``voice_filter`` parsing list filters).
- Helpers: ``settings`` (every knob), ``catalog`` (accepted ids), ``session`` (defaults and
  the ``session.update`` merge), ``audio`` (fake TTS, energy VAD), ``auth`` (credentials),
  ``replies`` / ``responses`` (what is said and how it streams), ``conversation`` / ``items``
  / ``input_audio`` (conversation state).

Behaviour: docs/emulator.md; the Inworld facts it follows: docs/protocol-notes.md.
"""

from .audio import EnergyVad, pcm16_silence, pcm16_tone
from .auth import AuthError, Credential, authenticate
from .catalog import is_known_stt, is_known_tts, is_known_voice, is_routable_llm
from .engine import EmulatorSession
from .faults import Fault, FaultMode, FaultPlan
from .server import (
    EMULATOR_FAULTS,
    EMULATOR_PATH,
    EMULATOR_SESSIONS,
    EMULATOR_SETTINGS,
    EmulatorConnection,
    create_emulator_app,
)
from .settings import EmulatorSettings

__all__ = [
    "EMULATOR_FAULTS",
    "EMULATOR_PATH",
    "EMULATOR_SESSIONS",
    "EMULATOR_SETTINGS",
    "AuthError",
    "Credential",
    "EmulatorConnection",
    "EmulatorSession",
    "EmulatorSettings",
    "EnergyVad",
    "Fault",
    "FaultMode",
    "FaultPlan",
    "authenticate",
    "create_emulator_app",
    "is_known_stt",
    "is_known_tts",
    "is_known_voice",
    "is_routable_llm",
    "pcm16_silence",
    "pcm16_tone",
]

"""Emulator settings: one frozen dataclass, every knob documented with its default.

The hosted Inworld service leaves several behaviours unknown
(docs/protocol-notes.md#inworld-unknowns, docs/emulator.md#determinism-settings-and-faults); each
such behaviour is a field here so tests and users can pick either side. ``#name`` below is a
section of docs/protocol-notes.md.
"""

import re
from dataclasses import dataclass, field
from typing import Literal

from .faults import FAULT_MODES, FaultMode

__all__ = ["EmulatorSettings"]


@dataclass(frozen=True, kw_only=True)
class EmulatorSettings:
    """Configuration of the built-in Inworld emulator.

    Construction validates ranges and raises ``ValueError`` naming the bad field.

    Credentials (``#inworld-authentication``, docs/emulator.md#handshake):
        ``api_key`` / ``api_secret``: when both are ``None`` any well-formed credential is
        accepted. When both are set, ``Basic``/``Bearer``/``basic_`` credentials must equal
        ``base64(api_key:api_secret)``. When only ``api_key`` is set it is the portal's
        pre-encoded "API key (Base64)" and the credential must equal it verbatim.
        Setting ``api_secret`` alone is an error.
    """

    api_key: str | None = field(default=None, repr=False)
    """Key id (with ``api_secret``) or the portal's base64 ``id:secret`` credential (alone)."""
    api_secret: str | None = field(default=None, repr=False)
    """Secret half of the key; requires ``api_key``."""

    ping_interval: float = 10.0
    """Seconds between app-level ``{"type":"ping"}`` frames (``#inworld-session-lifecycle``); 0
    disables them."""
    response_pace: float = 0.0
    """Seconds between successive audio chunks of a response. 0 streams as fast as possible
    (still yielding to the event loop); tests use > 0 to keep a response in flight."""
    first_audio_ms: int = 0
    """Latency profile (docs/emulator.md#latency-profile): milliseconds from
    ``response.created`` to a response's first delta. 0: at once."""
    jitter_ms: int = 0
    """Each response's ``first_audio_ms`` varies uniformly by up to this many ms either way
    (seeded by the session key, so runs repeat)."""
    cancel_ms: int = 0
    """Milliseconds a barge-in or ``response.cancel`` takes to stop a response, which streams
    on meanwhile; the end of the user's next turn stops it at once. 0: at once."""
    audio_chunk_ms: int = 100
    """Duration of each ``response.output_audio.delta`` chunk (PCM16 24 kHz)."""
    audio_ms_per_char: int = 60
    """Synthesized reply audio length per character of reply text."""
    max_audio_ms: int = 10_000
    """Cap on the synthesized audio length of one reply."""

    omit_function_call_name: bool = True
    """Leave ``name`` out of ``response.function_call_arguments.done`` like Inworld
    (``#inworld-function-call-name``)."""
    content_part_type: Literal["audio", "output_audio"] = "audio"
    """Assistant content-part type: prototype ``audio``/``text`` or GA ``output_audio``/
    ``output_text`` (``#inworld-content-labels``)."""
    echo_response_metadata: bool = False
    """Copy ``response.create.response.metadata`` into the response object. Unknown for Inworld
    (not documented), so off by default: a proxy must not rely on the upstream echoing it."""
    unknown_event_error: bool = False
    """False: ignore unknown client event types (prototype, ``#inworld-client-events``). True:
    answer an ``error``."""
    vad_events_without_turn_detection: bool = True
    """Emit ``speech_started``/``speech_stopped`` even when ``turn_detection`` is null
    (``#inworld-server-events``: Inworld reportedly fires them regardless). They never commit or
    interrupt in that mode."""
    coerce_audio_format: bool = True
    """Force ``audio.input/output.format`` to PCM16 24 kHz in the effective session, as Inworld's
    tau2 fork observed (``#inworld-audio-formats``). False echoes the requested format (audio
    stays PCM16 24 kHz)."""

    input_transcript: str = "Hello from the emulator."
    """What the fake speech recogniser "hears" for any detected speech."""
    vad_threshold: float = 500.0
    """RMS level (int16 scale) above which a 20 ms window counts as speech."""
    vad_min_speech_ms: int = 60
    """Speech starts after this much consecutive audio above ``vad_threshold``."""
    default_silence_ms: int = 500
    """End-of-speech silence when ``turn_detection.silence_duration_ms`` is absent."""

    default_model: str = "google-ai-studio/gemini-2.5-flash"
    """LLM in ``session.created`` (older docs, ``#inworld-model-ids``)."""
    default_voice: str = "Dennis"
    """Voice in ``session.created`` (docs/emulator.md#session-configuration)."""
    default_tts_model: str = "inworld-tts-1.5-mini"
    """TTS model in ``session.created`` (older docs, docs/emulator.md#session-configuration)."""
    default_stt_model: str | None = None
    """STT model in ``session.created``; None means ``transcription: null`` (the prototype's
    template, docs/emulator.md#session-configuration)."""
    session_ttl_seconds: int = 900
    """``expires_at`` = creation time + this (prototype, docs/emulator.md#session-configuration);
    not enforced."""

    extra_llm_providers: tuple[str, ...] = ()
    """Additional ``provider`` prefixes accepted in ``provider/model`` LLM ids."""
    extra_voices: tuple[str, ...] = ()
    """Additional voice ids accepted besides the catalogue and ``<workspace>__<name>`` ids."""
    workspace: str = "emulator"
    """The workspace the credential belongs to: cloned voices get ``<workspace>__<name>_<ts>``
    ids (docs/protocol-notes.md#inworld-voices-api)."""
    known_custom_voices_only: bool = False
    """False: realtime sessions accept any well-formed ``<workspace>__<name>`` voice (what Inworld
    does with an unknown one is not documented). True: only voices cloned on this emulator
    (and not deleted since), so a test proves a clone reached the session."""

    max_msg_size: int = 16 * 1024 * 1024
    """Largest client frame accepted by the WebSocket (bytes; 0 = unlimited)."""
    max_recorded_events: int = 10_000
    """Client events kept per connection for test inspection (oldest dropped first)."""

    fault: FaultMode | None = None
    """Start with this fault mode (``faults`` module): refuse, silent, close, reset, stall."""
    fault_status: int = 500
    """HTTP status of the ``refuse`` fault."""
    fault_close_code: int = 1011
    """Close code of the ``close`` fault."""

    def __post_init__(self) -> None:
        """Validate ranges; raise ``ValueError`` naming the offending field."""
        if self.api_secret is not None and self.api_key is None:
            raise ValueError("api_secret requires api_key")
        checks: tuple[tuple[str, bool], ...] = (
            ("ping_interval", self.ping_interval >= 0),
            ("response_pace", self.response_pace >= 0),
            ("first_audio_ms", self.first_audio_ms >= 0),
            ("jitter_ms", self.jitter_ms >= 0),
            ("cancel_ms", self.cancel_ms >= 0),
            ("audio_chunk_ms", self.audio_chunk_ms > 0),
            ("audio_ms_per_char", self.audio_ms_per_char > 0),
            ("max_audio_ms", self.max_audio_ms > 0),
            ("vad_threshold", self.vad_threshold > 0),
            ("vad_min_speech_ms", self.vad_min_speech_ms > 0),
            ("default_silence_ms", self.default_silence_ms > 0),
            ("session_ttl_seconds", self.session_ttl_seconds > 0),
            ("workspace", re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", self.workspace) is not None),
            ("max_msg_size", self.max_msg_size >= 0),
            ("max_recorded_events", self.max_recorded_events >= 0),
            ("content_part_type", self.content_part_type in ("audio", "output_audio")),
            ("fault", self.fault is None or self.fault in FAULT_MODES),
            ("fault_status", 400 <= self.fault_status <= 599),
            ("fault_close_code", 1000 <= self.fault_close_code <= 4999),
        )
        for name, ok in checks:
            if not ok:
                raise ValueError(f"invalid emulator setting {name}={getattr(self, name)!r}")

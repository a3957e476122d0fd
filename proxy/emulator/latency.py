"""The emulator's latency profile: when a response's output starts, and how fast it stops.

Real upstreams take a while to answer (the LLM's first token, then the TTS's first audio) and
to react to a barge-in; the emulator answers at once unless its settings say otherwise
(docs/emulator.md#latency-profile):

- ``first_audio_ms`` / ``jitter_ms``: ``response.created`` and the events before the
  response's first delta go out at once; the first delta (audio, text or tool arguments) and
  everything after it waits ``first_audio_ms`` plus a uniform jitter of +-``jitter_ms``
  (never below 0), drawn per response from a generator seeded with the session key, so a
  session's delays repeat from run to run;
- ``response_pace``: seconds between the response's later batches (one delta each), as before;
- ``cancel_ms``: kept by the engine (``EmulatorSession``), which lets a cancelled response go
  on streaming until then; the shell wakes up in time for it (``pause``).

With every knob at 0 (the default) nothing here waits: the emulator behaves as it always did.
"""

import random

from .engine import EmulatorSession
from .ids import Event
from .settings import EmulatorSettings

__all__ = ["LatencyProfile"]

_FIRST_DELTAS = (
    "response.output_audio.delta",
    "response.output_audio_transcript.delta",
    "response.output_text.delta",
    "response.function_call_arguments.delta",
)


class LatencyProfile:
    """The latency of one emulated session (see the module docstring)."""

    def __init__(self, settings: EmulatorSettings, seed: str) -> None:
        self._settings = settings
        self._random = random.Random(seed)

    def first_output(self, batch: list[Event]) -> tuple[list[Event], list[Event], float]:
        """Split a batch that starts a response: (events to send now, events to send after
        the delay, the delay in seconds). Any other batch: (batch, [], 0)."""
        s = self._settings
        if not batch or batch[0].get("type") != "response.created" or not s.first_audio_ms:
            return batch, [], 0.0
        cut = next((i for i, e in enumerate(batch) if e.get("type") in _FIRST_DELTAS), None)
        if cut is None:
            return batch, [], 0.0
        jitter = self._random.uniform(-s.jitter_ms, s.jitter_ms) if s.jitter_ms else 0.0
        return batch[:cut], batch[cut:], max(0.0, s.first_audio_ms + jitter) / 1000

    def pause(self, engine: EmulatorSession) -> float:
        """Seconds to wait before the next batch: ``response_pace``, or less when a
        cancellation falls due sooner."""
        wait = engine.cancel_wait
        pace = self._settings.response_pace
        return pace if wait is None else min(pace, wait)

    @staticmethod
    def still_current(engine: EmulatorSession, head: list[Event]) -> bool:
        """After the first-output delay: does the response of `head` still go on (not
        cancelled meanwhile, no cancellation due)?"""
        created = head[0].get("response") if head else None
        wanted = created.get("id") if isinstance(created, dict) else None
        wait = engine.cancel_wait
        return engine.active_response_id == wanted and (wait is None or wait > 0)

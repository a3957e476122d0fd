"""Fault modes of the emulator: how an unhealthy Inworld misbehaves, for failure tests.

`EmulatorSettings.fault` picks the mode the emulator starts with; tests flip it at run time
through ``app[EMULATOR_FAULTS]`` (a mutable `FaultPlan`). Each connection takes the plan as it
stands when it arrives, so a healthy session opened earlier stays healthy.

Modes:
    ``refuse``: answer the upgrade with HTTP ``status`` (401, 403, 429, 500, ...).
    ``silent``: accept the upgrade but never send ``session.created`` or anything else.
    ``close``: close with ``close_code`` in the middle of the first response.
    ``reset``: abort the TCP connection (no Close frame) in the middle of the first response.
    ``stall``: in the middle of the first response, stop sending, stop acting on frames and
        stop answering WebSocket pings (the process hangs, the socket stays open).
"""

from dataclasses import dataclass
from typing import Literal

__all__ = ["FAULT_MODES", "Fault", "FaultMode", "FaultPlan"]

FaultMode = Literal["refuse", "silent", "close", "reset", "stall"]
FAULT_MODES: tuple[FaultMode, ...] = ("refuse", "silent", "close", "reset", "stall")
MID_RESPONSE: frozenset[str] = frozenset({"close", "reset", "stall"})


@dataclass(frozen=True, slots=True)
class Fault:
    """The fault one connection suffers."""

    mode: FaultMode
    status: int = 500
    close_code: int = 1011

    @property
    def mid_response(self) -> bool:
        """Whether the fault strikes after the first batch of a response."""
        return self.mode in MID_RESPONSE


@dataclass(slots=True)
class FaultPlan:
    """What the next connections suffer; ``mode=None`` means healthy."""

    mode: FaultMode | None = None
    status: int = 500
    close_code: int = 1011

    def take(self) -> Fault | None:
        """The fault for a connection arriving now."""
        if self.mode is None:
            return None
        return Fault(self.mode, self.status, self.close_code)

"""The relay's native hot lane: audio frames forwarded by a few lines of C.

At real-time pace every audio frame is its own read, and the Python the proxy runs per read,
however short, costs more than the kernel's work for it (docs/performance.md). A `Lane`
(`proxy/ws/_lane.c`, an optional C extension built by `pip install .`) becomes the protocol of
one link's transport, in front of the link (its `target`), and so sees each read before any
Python runs: a read that is exactly one TEXT frame of the expected length whose payload
starts with an audio event's prefix is written, as received, to the other transport, and
counted; anything else goes on to the link's own `data_received` and takes the Python path
(`proxy.ws.link`, `proxy.session.relay`), which is the reference behaviour. Every other
protocol call (connection_lost, pause_writing, ...) is the link's. The contract is in the C
file's header; tests/ws/test_lane.py holds a Python model of it and checks the C against it.

The lane is an accelerator, never a requirement: without a C compiler at install time (or
with `server.native_lane = false`) `new_lane` returns None and the Python path relays
everything, with the same results.
"""

from __future__ import annotations

try:
    from proxy.ws._lane import Lane
except ImportError:  # pragma: no cover (built without a C compiler)
    NATIVE = False
else:
    NATIVE = True

__all__ = ["NATIVE", "Lane", "new_lane"]


def new_lane(
    prefixes: tuple[bytes, ...], *, masked: bool, max_size: int, target: object = None
) -> Lane | None:
    """A disarmed lane (`write` None, `length` -1) for frames starting with `prefixes`
    (masked ones: a server's link) in front of `target` (a protocol), or None when the
    extension was not built."""
    if not NATIVE:  # pragma: no cover
        return None
    return Lane(prefixes, masked=masked, max_size=max_size, target=target)

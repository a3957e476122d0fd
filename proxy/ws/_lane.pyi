"""Type stub of the native hot lane (proxy/ws/_lane.c; see proxy/ws/lane.py)."""

from collections.abc import Callable

class Lane:
    write: Callable[[bytes], object] | None
    prefixes: tuple[bytes, ...]
    length: int
    sample: int
    offset: int
    @property
    def count(self) -> int: ...
    @property
    def max_size(self) -> int: ...
    @property
    def target(self) -> object: ...
    def __init__(
        self, prefixes: tuple[bytes, ...], *, masked: bool, max_size: int, target: object = None
    ) -> None: ...
    def take(self, data: bytes, /) -> bool: ...
    def data_received(self, data: bytes, /) -> None: ...

"""What the test servers share: `with server:` starts it and stops it."""
from __future__ import annotations

from types import TracebackType
from typing import TypeVar

S = TypeVar("S", bound="Serving")


class Serving:
    """A server with `start()` (returning itself) and `stop()`, usable as a context manager."""

    def start(self: S) -> S:
        """Start serving; returns self."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving."""
        raise NotImplementedError

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

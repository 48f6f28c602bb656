"""Live progress of `ptmlock sync`: a bar per file in flight and one overall, on a terminal;
one plain line per finished file otherwise; nothing with `--quiet`.

Workers call `advance()` from many threads; a single painter thread redraws the terminal at
10 Hz, so the cost per chunk is one locked integer add.
"""
from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

from ptmlock.output import Output, human_size, redact

_BAR = 20
_MAX_ROWS = 8


class Progress:
    """No output at all; the base of the other two."""

    def start(self, key: str, label: str, total: int) -> None:
        """A file begins (or resumes) downloading."""

    def advance(self, key: str, n: int) -> None:
        """`n` more bytes of `key` arrived."""

    def finish(self, key: str, note: str) -> None:
        """`key` is done; `note` says how (`downloaded`, `failed: ...`)."""

    def close(self) -> None:
        """Stop drawing; leave the terminal clean."""


class LineProgress(Progress):
    """One line per finished file on stderr: for logs and pipes."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._labels: dict[str, tuple[str, int]] = {}

    def start(self, key: str, label: str, total: int) -> None:
        self._labels[key] = (label, total)

    def finish(self, key: str, note: str) -> None:
        label, total = self._labels.get(key, (key, 0))
        self._out.info(f"  {note} {label} ({human_size(total)})")


class BarProgress(Progress):
    """Bars redrawn in place on a terminal."""

    def __init__(self, *, files: int, total: int, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()
        self._active: dict[str, list[int | str]] = {}  # key -> [label, total, done]
        self._files, self._done_files = files, 0
        self._total, self._done = total, 0
        self._start = time.monotonic()
        self._drawn = 0
        self._stop = threading.Event()
        self._painter = threading.Thread(target=self._paint_loop, name="ptmlock-progress", daemon=True)
        self._painter.start()

    def start(self, key: str, label: str, total: int) -> None:
        with self._lock:
            self._active[key] = [label, total, 0]

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            row = self._active.get(key)
            if row is not None:
                row[2] = int(row[2]) + n
            self._done += n

    def finish(self, key: str, note: str) -> None:
        with self._lock:
            self._active.pop(key, None)
            self._done_files += 1

    def close(self) -> None:
        self._stop.set()
        self._painter.join()
        with self._lock:
            self._erase()
            self._stream.flush()

    def _paint_loop(self) -> None:
        while not self._stop.wait(0.1):
            with self._lock:
                self._paint()

    def _erase(self) -> None:
        if self._drawn:
            self._stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _paint(self) -> None:
        width = max(40, shutil.get_terminal_size((100, 20)).columns - 1)
        elapsed = max(time.monotonic() - self._start, 1e-6)
        lines = []
        for label, total, done in list(self._active.values())[:_MAX_ROWS]:
            lines.append(_line(str(label), int(done), int(total), None, width))
        lines.append(_line(f"{self._done_files}/{self._files} files", self._done, self._total,
                           self._done / elapsed, width))
        self._erase()
        self._stream.write("".join(redact(line) + "\n" for line in lines))
        self._stream.flush()
        self._drawn = len(lines)


def _line(label: str, done: int, total: int, rate: float | None, width: int) -> str:
    frac = min(1.0, done / total) if total else 1.0
    filled = int(frac * _BAR)
    bar = "#" * filled + "-" * (_BAR - filled)
    tail = f"{frac * 100:5.1f}% {human_size(done):>10}/{human_size(total):<10}"
    if rate is not None:
        tail += f" {human_size(int(rate)):>10}/s"
    room = max(width - _BAR - 45, 12)  # the label column, the same on every row
    name = label if len(label) <= room else "..." + label[-(room - 3):]
    return f"{name:<{room}} [{bar}] {tail}"[:width]  # never wrap: the redraw counts lines


def make_progress(out: Output, *, files: int, total: int, stream: TextIO | None = None) -> Progress:
    """Bars on a terminal, plain lines otherwise, nothing when `out` is quiet."""
    if out.quiet:
        return Progress()
    s = stream if stream is not None else sys.stderr
    if hasattr(s, "isatty") and s.isatty():
        return BarProgress(files=files, total=total, stream=s)
    return LineProgress(out)

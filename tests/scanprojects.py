"""Small real-style projects written to disk for the scanner's pattern tests, and what a scan of one finds."""
from __future__ import annotations

import textwrap
from pathlib import Path

from ptmlock.scan.scanner import scan_paths


def write_project(root: Path, files: dict[str, str]) -> None:
    """Each `relative path: source` under `root` (the source dedented)."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


def found_ids(root: Path) -> dict[tuple[str, int], tuple[str, ...] | None]:
    """(file name, line) -> the ids reported there, by an uncached scan of `root`."""
    return {(f.path.rsplit("/", 1)[-1], f.line): f.model_ids for f in scan_paths([str(root)], use_cache=False)}

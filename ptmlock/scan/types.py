"""The plain data `ptmlock.scan.scanner` returns: `Finding` and `ScanStats` (re-exported there)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Finding:
    """One model load found in source code, without running it.

    `model_ids` is the tuple of ids the call can load: one id, several ids that are
    interchangeable alternatives (a dict of choices, an argparse `choices=` list, a loop),
    or `None` when the id is decided at run time (dynamic). `revision` is the literal revision
    (`revision="v1"`, `torch.hub` `owner/repo:ref`, timm `hf-hub:org/name@rev`, or the
    torchvision weights enum text). `ignored` is true when the call carries `# ptmlock: ignore`.
    The JSON shape of `to_dict()` is documented in docs/scan.md and is stable.
    """

    path: str
    line: int
    col: int
    loader: str
    library: str
    model_ids: tuple[str, ...] | None
    revision: str | None
    hub: str
    repo_type: str
    ignored: bool
    cell: int | None = None  # the notebook cell (1-based) for a finding in an `.ipynb`

    def to_dict(self) -> dict[str, object]:
        """The stable JSON shape: every field, `model_ids` as a list or null."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "loader": self.loader,
            "library": self.library,
            "model_ids": None if self.model_ids is None else list(self.model_ids),
            "revision": self.revision,
            "hub": self.hub,
            "repo_type": self.repo_type,
            "ignored": self.ignored,
            "cell": self.cell,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Finding:
        """Rebuild a Finding from `to_dict()` output; raises `ValueError` on a malformed dict."""
        try:
            ids = data["model_ids"]
            revision = data["revision"]
            finding = cls(
                path=str(data["path"]),
                line=_int(data["line"]),
                col=_int(data["col"]),
                loader=str(data["loader"]),
                library=str(data["library"]),
                model_ids=None if ids is None else tuple(str(i) for i in _list(ids)),
                revision=None if revision is None else str(revision),
                hub=str(data["hub"]),
                repo_type=str(data["repo_type"]),
                ignored=bool(data["ignored"]),
                cell=None if data.get("cell") is None else _int(data["cell"]),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a scan finding: {e}") from e
        return finding

    def with_path(self, path: str) -> Finding:
        """The same finding at another path (the cache stores findings by content, not path)."""
        return replace(self, path=path)

    def sort_key(self) -> tuple[str, int, int, int, str]:
        """The order `scan_paths` returns findings in: path, cell, line, column, loader."""
        return (self.path, self.cell or 0, self.line, self.col, self.loader)

    def location(self, path: str | None = None) -> str:
        """`path:line:col`, or `path:cell N:line:col` in a notebook (`path` overrides the path)."""
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{path if path is not None else self.path}:{cell}{self.line}:{self.col}"


@dataclass
class ScanStats:
    """Counters `scan_paths(..., stats=ScanStats())` fills in, for `--verbose` and benchmarks.

    `files` every file considered; `filtered` files the substring pre-filter ruled out
    (never parsed, never hashed); `cache_hits` files answered from the cache; `parsed` files
    handed to `ast.parse`; `syntax_errors` those that did not parse; `unreadable` files
    that could not be read (skipped); `bytes` bytes read; `findings` findings returned;
    `workers` the number of processes used (1 = in-process).
    """

    files: int = 0
    filtered: int = 0
    cache_hits: int = 0
    parsed: int = 0
    syntax_errors: int = 0
    unreadable: int = 0
    bytes: int = 0
    findings: int = 0
    workers: int = 1


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {value!r}")
    return value

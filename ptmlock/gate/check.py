"""`ptmlock scan` statuses and the `ptmlock check` gate (pre-commit and CI).

`classify()` is pure: it puts each scan finding against the manifest and lock with the same
matching and decision rules the runtime guard uses (`ptmlock.pins`, `ptmlock.decide`), so a
load the gate accepts is a load the guard pins, and the other way round.

Check codes (flake8-style `path:line:col: PTMxxx message`):

| code   | meaning |
|--------|---------|
| PTM001 | ptm.lock is stale against ptm.toml (or missing) |
| PTM002 | a literal model id is loaded but not declared in ptm.toml |
| PTM003 | the code passes a revision that contradicts ptm.lock |

A `# ptmlock: ignore` comment on the line silences its finding. Dynamic loads (ids decided at
run time) are listed by `scan` but never fail `check`: the runtime guard covers them.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ptmlock.constants import LOCK_NAME, MANIFEST_NAME, MODE_WARN
from ptmlock.decide import CONTRADICTS, MATCHES_LOCK, Request, decide, pin_command
from ptmlock.lockfile.fresh import lock_state
from ptmlock.lockfile.model import Lock
from ptmlock.manifest.model import Manifest
from ptmlock.manifest.parse import load_manifest
from ptmlock.pins import PinIndex, build_index
from ptmlock.scan.reading import read_text
from ptmlock.scan.scanner import Finding, ScanStats, excluded, scan_paths
from ptmlock.scan.sources import KINDS, kind_of

DECLARED = "declared"
UNDECLARED = "undeclared"
PINNED_IN_CODE = "pinned-in-code"
CONTRADICTS_LOCK = "contradicts-lock"
DYNAMIC = "dynamic"
STATUSES = (UNDECLARED, CONTRADICTS_LOCK, PINNED_IN_CODE, DECLARED, DYNAMIC)  # worst first

@dataclass(frozen=True)
class Classified:
    """A scan finding with its status against ptm.toml and ptm.lock (one per model id)."""

    finding: Finding
    status: str
    statuses: tuple[tuple[str, str], ...]  # (model id, status) for each id of the finding

    def to_dict(self) -> dict[str, object]:
        """`Finding.to_dict()` plus `status` and `statuses` (see docs/scan.md)."""
        return {**self.finding.to_dict(), "status": self.status,
                "statuses": [{"model_id": i, "status": s} for i, s in self.statuses]}


@dataclass(frozen=True)
class Diagnostic:
    """One line of `ptmlock check` output."""

    path: str
    line: int
    col: int
    code: str
    message: str
    cell: int | None = None  # the notebook cell, for a problem in an `.ipynb`

    def render(self) -> str:
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.path}:{cell}{self.line}:{self.col}: {self.code} {self.message}"

    def to_dict(self) -> dict[str, object]:
        """The `check --format json` shape (docs/scan.md)."""
        return {"path": self.path, "cell": self.cell, "line": self.line, "col": self.col, "code": self.code,
                "message": self.message}


def classify(findings: Sequence[Finding], manifest: Manifest | None, lock: Lock | None) -> list[Classified]:
    """Each finding with its status; pure. With no manifest every literal id is undeclared."""
    index = build_index(manifest, lock) if manifest is not None else PinIndex(())
    out = []
    for f in findings:
        if f.model_ids is None:
            out.append(Classified(f, DYNAMIC, ()))
            continue
        statuses = tuple((model_id, _status(index, f, model_id, lock is not None)) for model_id in f.model_ids)
        worst = min((s for _, s in statuses), key=STATUSES.index)
        out.append(Classified(f, worst, statuses))
    return out


def _status(index: PinIndex, f: Finding, model_id: str, locked: bool) -> str:
    # what the code writes is the caller's choice; no revision is "not asked" (decide.chosen), as in the guard
    request = Request(repo_id=model_id, revision=f.revision, repo_type=f.repo_type, hub=f.hub,
                      caller_passed=f.revision is not None, caller_revision=f.revision)
    pin = index.find(request)
    if pin is None:
        return UNDECLARED
    if f.revision is None:
        return DECLARED
    if not locked or pin.commit is None or pin.stale is not None:
        return PINNED_IN_CODE  # nothing to compare with yet; PTM001 reports the stale lock
    verdict = decide(request, pin, MODE_WARN)  # the gate reports; it never refuses a load itself
    if verdict.kind == CONTRADICTS:
        return CONTRADICTS_LOCK
    if verdict.kind == MATCHES_LOCK:
        return PINNED_IN_CODE
    return DECLARED  # the manifest's own ref, spelled out in code


IGNORE_FILE = ".ptmlockignore"


def scan_settings(manifest: Manifest | None, root: Path | None = None,
                  sources: Sequence[str] | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(source kinds, exclude patterns) for a scan of the project: `sources` when given, else the
    manifest's `[tool] scan-sources`; the patterns of `[tool] exclude` and of `.ptmlockignore`
    beside the manifest (or in `root` when there is no manifest)."""
    kinds = tuple(sources) if sources else (manifest.tool.scan_sources if manifest is not None else KINDS)
    exclude = list(manifest.tool.exclude) if manifest is not None else []
    base = manifest.project_dir if manifest is not None else (root or Path.cwd())
    ignore = read_text(str(base / IGNORE_FILE))  # a regular file only: never a link to /dev/zero
    exclude += ignore.splitlines() if ignore is not None else []
    return kinds, tuple(p for p in exclude if p.strip() and not p.lstrip().startswith("#"))


def scan_project(paths: Sequence[str], *, manifest_path: Path | None, jobs: int | None = None,
                 use_cache: bool = True, sources: Sequence[str] | None = None
                 ) -> tuple[list[Classified], Manifest | None]:
    """Scan `paths` and classify the findings against the manifest at `manifest_path` (if any).

    Raises:
        ManifestError, LockfileError: the manifest or lock is unreadable.
        FileNotFoundError: a path does not exist.
    """
    manifest = load_manifest(manifest_path) if manifest_path is not None else None
    lock = lock_state(manifest).readable() if manifest is not None else None  # invalid: exit 3
    kinds, exclude = scan_settings(manifest, sources=sources)
    findings = scan_paths(list(paths), jobs=jobs, use_cache=use_cache, kinds=kinds, exclude=exclude)
    return classify(findings, manifest, lock), manifest


@dataclass(frozen=True)
class CheckReport:
    """What `check_report` looked at and found: `files` source files scanned, `loads` model
    loads in them, `declared` of those loads that ptm.toml declares, and the problems."""

    problems: tuple[Diagnostic, ...]
    files: int
    loads: int
    declared: int

    def summary(self) -> str:
        """The one line `ptmlock check` prints: `ptmlock check: 3 files, 4 loads (4 declared), ok.`"""
        verdict = _plural(len(self.problems), "problem") if self.problems else "ok"
        return (f"ptmlock check: {_plural(self.files, 'file')}, {_plural(self.loads, 'model load')} "
                f"({self.declared} declared), {verdict}.")


def check(files: Sequence[str], *, manifest_path: Path) -> list[Diagnostic]:
    """The gate: problems in `files` (all Python files of the project when empty), sorted.

    Raises:
        ManifestError, LockfileError: the manifest or lock is unreadable.
    """
    return list(check_report(files, manifest_path=manifest_path).problems)


def check_report(files: Sequence[str], *, manifest_path: Path) -> CheckReport:
    """`check`, with what it looked at. When `files` is empty or names ptm.toml or ptm.lock
    (pre-commit passes them when they change: issue 17, item 3), every Python file of the
    project is checked, since a manifest change can break a load in any file.

    Raises:
        ManifestError, LockfileError: the manifest or lock is unreadable.
    """
    manifest = load_manifest(manifest_path)
    state = lock_state(manifest)
    lock = state.readable()  # invalid: exit 3; stale or missing: PTM001, exit 1
    problems: list[Diagnostic] = []
    if not state.fresh:
        line, col = _stale_at(manifest, state.added + state.changed)
        problems.append(Diagnostic(_rel(str(manifest.path)), line, col, "PTM001", state.message("check")))
    kinds, exclude = scan_settings(manifest)
    whole = not files or any(os.path.basename(f) in (MANIFEST_NAME, LOCK_NAME) for f in files)
    targets = [str(manifest.project_dir)] if whole else \
        [f for f in files if kind_of(f) in kinds and not excluded(_rel(f), exclude)]
    targets = [t for t in targets if os.path.exists(t)]
    stats = ScanStats()
    findings = _scan_within_project(targets, manifest.project_dir, kinds, exclude, stats) if targets else []
    loads = declared = 0
    for c in classify(findings, manifest, lock):
        f = c.finding
        loads += 1
        declared += c.status in (DECLARED, PINNED_IN_CODE)
        if f.ignored:
            continue
        for model_id, status in c.statuses:
            if status == UNDECLARED:
                kind = "" if f.repo_type == "model" else f" --type {f.repo_type}"
                hub = "" if f.hub == "huggingface" else f" --hub {f.hub}"
                problems.append(Diagnostic(
                    _rel(f.path), f.line, f.col, "PTM002",
                    f"{model_id!r} is loaded here ({f.loader}) but not declared in ptm.toml; "
                    f"declare it with `ptmlock add {model_id}{hub}{kind}` or mark the line `# ptmlock: ignore`",
                    f.cell))
            elif status == CONTRADICTS_LOCK:
                pinned = lock.get(model_id) if lock is not None else None
                at = f" (ptm.lock pins {pinned.commit[:12]})" if pinned is not None else ""
                command = pin_command(model_id, f.hub, f.revision)  # none that would drop the pin (`@main`)
                problems.append(Diagnostic(
                    _rel(f.path), f.line, f.col, "PTM003",
                    f"revision {f.revision!r} of {model_id!r} contradicts ptm.lock{at}; drop the revision argument"
                    + (f" or pin it with `{command}`" if command is not None else ""), f.cell))
    problems.sort(key=lambda p: (p.path, p.cell or 0, p.line, p.col, p.code, p.message))
    return CheckReport(problems=tuple(problems), files=stats.files, loads=loads, declared=declared)


def loads_of(model_id: str, project_dir: Path) -> list[str]:
    """`path:line:col` of every literal load of `model_id` in the project's Python files (what
    `remove` warns about: the code would then fail `ptmlock check` with PTM002)."""
    folded = model_id.casefold()
    return [f.location(_rel(f.path)) for f in scan_paths([str(project_dir)])
            if not f.ignored and any(i.casefold() == folded for i in f.model_ids or ())]


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _scan_within_project(targets: list[str], root: Path, kinds: Sequence[str], exclude: Sequence[str],
                         stats: ScanStats | None = None) -> list[Finding]:
    """The findings in `targets`, from a scan of the whole project (cached, so cheap when warm):
    a call in a target of a wrapper defined in another file (`scan.wrappers`) needs that file."""
    real = {os.path.realpath(t) for t in targets}
    inside = [t for t in targets if os.path.realpath(t).startswith(os.path.realpath(root) + os.sep)]
    paths = [str(root)] + [t for t in targets if t not in inside]
    found = scan_paths(paths, kinds=kinds, exclude=exclude, stats=stats)
    if real == {os.path.realpath(root)}:
        return found
    wanted = [f for f in found if os.path.realpath(f.path) in real]
    return [f.with_path(_rel(f.path)) for f in wanted]


def _stale_at(manifest: Manifest, differing: Sequence[str]) -> tuple[int, int]:
    """Where PTM001 points in ptm.toml: the entry of the first model the lock does not match,
    else (lock missing, or a model dropped) the first model entry; 1:1 when there is none."""
    from ptmlock.manifest.locate import Locator

    ids = list(differing) or [m.id for m in manifest.models[:1]]
    if not ids:
        return 1, 1
    text = manifest.path.read_text(encoding="utf-8")
    return Locator(text, manifest.path).position("models", ids[0])  # the ids as ptm.toml spells them


def _rel(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel

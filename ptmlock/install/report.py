"""What `ptmlock sync` did: one `FileOutcome` per planned file, gathered in a `SyncReport`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ptmlock.errors import EXIT_CHECK_FAILED, IntegrityError, PtmlockError
from ptmlock.install.hf_cache import FileTask, Plan
from ptmlock.install.verify import Problem

if TYPE_CHECKING:
    from ptmlock.install.torch_cache import TorchSyncReport

PRESENT, DOWNLOADED, LINKED, MISSING, FAILED = "present", "downloaded", "linked", "missing", "failed"



@dataclass(frozen=True)
class FileOutcome:
    """What sync did with one file: `present`, `downloaded`, `linked` (bytes were already in
    the cache), `missing` (offline check) or `failed` (with `error`)."""

    task: FileTask
    action: str
    received: int = 0
    error: PtmlockError | None = None
    problem: Problem | None = None


@dataclass(frozen=True)
class SyncReport:
    """The result of `apply()`, one outcome per planned file, in plan order."""

    plan: Plan
    outcomes: tuple[FileOutcome, ...]
    offline: bool = False
    refs: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)  # (model id, ref, commit) written
    torch: TorchSyncReport | None = None  # the torchhub and url models, synced into torch.hub's layout
    skipped: tuple[tuple[str, str], ...] = ()  # (model id, why) for models this run did not sync
    notes: tuple[str, ...] = ()  # sources fallen through or dropped ([[source]], issue 15)
    overwritten: tuple[str, ...] = ()  # --target --force: files replaced that ptmlock had not written

    def count(self, action: str) -> int:
        """How many files ended with `action`."""
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def received(self) -> int:
        """Bytes downloaded in this run."""
        return sum(o.received for o in self.outcomes)

    @property
    def failures(self) -> tuple[FileOutcome, ...]:
        """Files that could not be fetched, in plan order."""
        return tuple(o for o in self.outcomes if o.action == FAILED)

    @property
    def missing(self) -> tuple[FileOutcome, ...]:
        """Files an offline check found missing or altered."""
        return tuple(o for o in self.outcomes if o.action == MISSING)

    @property
    def errors(self) -> tuple[PtmlockError, ...]:
        """Every failure, Hugging Face files first (plan order), then torchhub and url models."""
        errors = [o.error for o in self.failures if o.error is not None]
        if self.torch is not None:
            errors += [o.error for o in self.torch.failures if o.error is not None]
        return tuple(errors)

    @property
    def exit_code(self) -> int:
        """0 when complete; 5 if any download failed its integrity check, else the first
        failure's code; 1 when an offline check found files missing."""
        errors = self.errors
        if any(isinstance(e, IntegrityError) for e in errors):
            return IntegrityError.exit_code
        if errors:
            return errors[0].exit_code
        torch_missing = self.torch is not None and self.torch.exit_code == EXIT_CHECK_FAILED
        return EXIT_CHECK_FAILED if self.missing or torch_missing else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data: counts, and one entry per file that is not simply present."""
        return {
            "layout": self.plan.layout,
            "root": str(self.plan.root),
            "offline": self.offline,
            "files": len(self.outcomes),
            "present": self.count(PRESENT),
            "downloaded": self.count(DOWNLOADED),
            "linked": self.count(LINKED),
            "bytes_downloaded": self.received,
            "missing": [o.problem.to_dict() for o in self.missing if o.problem is not None],
            "failed": [{"model": o.task.model.id, "path": o.task.file.path, "message": str(o.error)}
                       for o in self.failures],
            "skipped": [{"model": m, "reason": r} for m, r in self.skipped],
            "sources": list(self.notes),
            "torch": [{"model": o.task.model.id, "kind": o.task.kind, "action": o.action, "path": str(o.task.dest),
                       "message": str(o.error) if o.error is not None else o.message}
                      for o in (self.torch.outcomes if self.torch is not None else ())],
        }

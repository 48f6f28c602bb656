"""The runtime guard: `import ptmlock.enforce` keeps the running program honest to ptm.lock.
May import the base and data layers, decide, pins, _select, supply.rules and supply.pickles
(the torch.load checks); never cli/, install/ or hubs/ (a guarded program makes no request of ptmlock's own).

Importing this package turns the guard on, before or after the ML libraries are imported:
it finds ptm.lock (`PTMLOCK_LOCKFILE`, else the nearest one at or above the current
directory) and patches huggingface_hub, transformers, sentence-transformers, diffusers, timm,
peft, open_clip and torch.hub when each is imported (now, for those already imported). It
imports none of them itself. Then, for every hub load:

- a model listed in ptm.toml, asked for with no revision or the manifest's ref, loads the
  commit ptm.lock pins (the revision is rewritten; no code change needed);
- the locked commit itself (full or prefix) loads as asked;
- an unlisted model, a revision that contradicts the lock, or a stale lock entry is warned
  about (`PtmlockWarning`, "warn" mode) or refused with `GuardError` before any request is
  sent ("strict" mode);
- local paths pass untouched.

The mode is `PTMLOCK_MODE` (off | warn | strict), else `policy` in ptm.toml, else "warn".
`PTMLOCK_REPORT=path.jsonl` appends one JSON record per load. See docs/guard.md.
"""
from __future__ import annotations

from ptmlock.enforce._runtime import (
    activate,
    disable,
    disabled,
    enable,
    is_enabled,
    project_mode,
)
from ptmlock.enforce._warning import PtmlockWarning
from ptmlock.errors import GuardError

__all__ = ["GuardError", "PtmlockWarning", "disable", "disabled", "enable", "is_enabled", "mode"]


def mode() -> str:
    """The mode in force: "off", "warn" or "strict" (reads ptm.toml's policy on first use)."""
    return project_mode()


activate()

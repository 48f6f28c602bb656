"""The load report: one JSON object per intercepted load, appended to `PTMLOCK_REPORT` (JSON Lines).

Each record is one `write()` on a descriptor opened with `O_APPEND`, so records from several
threads (serialised by a lock as well) or processes never interleave.
"""
from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ptmlock.decide import Request, Verdict

_lock = threading.Lock()


def load_record(request: Request, verdict: Verdict, *, library: str, site: str, mode: str) -> dict[str, Any]:
    """The report line of one intercepted load (its shape is documented in docs/guard.md)."""
    from ptmlock.decide import chosen

    pin = verdict.pin
    used = verdict.revision if verdict.action != "refuse" else None
    return {
        "event": "load",
        "model": request.repo_id,
        "declared": pin.declared_id if pin is not None else None,
        "hub": request.hub,
        "repo_type": request.repo_type,
        "requested": chosen(request)[0],  # what the caller asked for; a library's own default is not asked
        "revision": request.resolved if verdict.action == "pass" and request.resolved else used,
        "locked": pin.commit if pin is not None else None,
        "library": library,
        "call_site": site,
        "verdict": verdict.kind,
        "action": verdict.action,
        "mode": mode,
    }


def append_record(path: str, record: dict[str, Any]) -> None:
    """Append `record` as one line to the JSON Lines file at `path` (created if missing)."""
    data = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    with _lock:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)

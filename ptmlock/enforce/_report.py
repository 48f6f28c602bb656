"""The load report: one JSON object per intercepted load, appended to `PTMLOCK_REPORT` (JSON Lines).

Each record is one `write()` on a descriptor opened with `O_APPEND`, so records from several
threads (serialised by a lock as well) or processes never interleave.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any

_lock = threading.Lock()


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

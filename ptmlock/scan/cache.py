"""The scan's content-addressed cache (`scan_paths`; docs/scan.md, "Speed").

Keyed by the SHA-256 hash of a file's bytes (160 bits of it), so it is shared by every tree and
never stale.
Entries live in 16 shard files (by the first hex digit of the key): creating one file per entry
costs ~1 ms each on common disks, which alone would double a cold scan of a large tree.
"""
from __future__ import annotations

import contextlib
import json
import os

from ptmlock import __version__
from ptmlock._fs import atomic_write
from ptmlock.scan.types import Finding
from ptmlock.scan.wrappers import Wrapper

# Bump when the findings for the same bytes change, so that old cache entries are not reused.
# 7: helper chains, defaultdict tables, dataclass instances' fields, bare names; 6: kwargs defaults, range
# loops, helpers across modules, imported constants; 5: value flow, download helpers, more loaders; 4: class
# wrappers, from_model2vec; 3: wrappers; 2: ids as fetched
ANALYZER_VERSION = "7"


class Cache:
    def __init__(self, cache_dir: str) -> None:
        self.root = os.path.join(cache_dir, f"v{ANALYZER_VERSION}-{__version__}")
        self._shards: dict[str, dict[str, object]] = {}
        self._new: dict[str, dict[str, object]] = {}

    def _file(self, shard: str) -> str:
        return os.path.join(self.root, f"shard-{shard}.json")

    def _read(self, shard: str) -> dict[str, object]:
        try:
            with open(self._file(shard), "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError, RecursionError):  # missing or damaged: start over
            return {}
        return data if isinstance(data, dict) else {}

    def is_empty(self) -> bool:
        """No entry written yet by this analyzer version (a first scan: nothing to look up)."""
        try:
            return not any(name.startswith("shard-") for name in os.listdir(self.root))
        except OSError:
            return True

    def _entry(self, key: str) -> object:
        shard = self._shards.get(key[0])
        if shard is None:
            shard = self._shards[key[0]] = self._read(key[0])
        return shard.get(key)

    def get(self, key: str, path: str) -> tuple[list[Finding], list[Wrapper]] | None:
        """The findings and wrappers of a file's bytes (`key`), given the path they are at now."""
        raw = self._entry(key)
        if not isinstance(raw, dict) or not isinstance(raw.get("f"), list) or not isinstance(raw.get("w"), list):
            return None
        try:
            return ([Finding.from_dict({**entry, "path": ""}) for entry in raw["f"]],
                    [Wrapper.from_dict(entry, path) for entry in raw["w"]])
        except (ValueError, TypeError, KeyError):
            return None

    def put(self, key: str, findings: list[Finding], wrappers: list[Wrapper]) -> None:
        self._new.setdefault(key[0], {})[key] = {
            "f": [{k: v for k, v in f.to_dict().items() if k != "path"} for f in findings],
            "w": [w.to_dict() for w in wrappers]}

    def get_findings(self, key: str) -> list[Finding] | None:
        """Findings stored whole, their paths with them (the wrapper pass of a whole scan)."""
        raw = self._entry(key)
        if not isinstance(raw, dict) or not isinstance(raw.get("all"), list):
            return None
        try:
            return [Finding.from_dict(entry) for entry in raw["all"]]
        except (ValueError, TypeError, KeyError):
            return None

    def put_findings(self, key: str, findings: list[Finding]) -> None:
        self._new.setdefault(key[0], {})[key] = {"all": [f.to_dict() for f in findings]}

    def flush(self) -> None:
        """Merge new entries into their shards (re-read first, to keep a concurrent scan's
        entries) and replace each shard atomically. A cache that cannot be written is no error."""
        for shard, entries in self._new.items():
            merged = {**self._read(shard), **entries}
            with contextlib.suppress(OSError):
                os.makedirs(self.root, exist_ok=True)
                # no fsync: a lost entry only costs a re-parse, and os.replace means none is ever torn
                atomic_write(self._file(shard), json.dumps(merged, separators=(",", ":")), durable=False)
        self._new.clear()

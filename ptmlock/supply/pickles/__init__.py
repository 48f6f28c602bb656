"""Find what a model file would run when loaded, by reading its pickles opcode by opcode; never unpickles.

Loading a pickle runs whatever callables its GLOBAL / STACK_GLOBAL / INST opcodes name (then
REDUCE calls them), so a weights file can carry `os.system`. `scan_file` decides the format the
way the loaders do (`formats`), walks every pickle stream in it with a model of the unpickler's
stack and memo (`machine`), and sorts what they import against an exact allow-list
(`allowlist`). It fails closed: a file it could not read to its end is `inconclusive`, never
clean (issue 12). See docs/pickles.md. May import only the base layer and install.hashing
(for the cache of verified files); the guard and `audit --deep` import it.
"""
from __future__ import annotations

import io
import json
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from ptmlock.supply.pickles.allowlist import DYNAMIC, classify
from ptmlock.supply.pickles.formats import PICKLE_NAMES, Findings, scan_stream, sniff

__all__ = [
    "DYNAMIC",
    "PICKLE_NAMES",
    "VERDICTS",
    "PickleScan",
    "classify",
    "scan_file",
    "scan_pickle_bytes",
   
    "sniff_file",
]

# worst first: the order a file's verdict is decided in
VERDICTS = ("dangerous", "inconclusive", "unknown-global", "clean", "not-pickle")
_MAX_SAFETENSORS_HEADER = 100_000_000  # the safetensors library's own limit


@dataclass(frozen=True)
class PickleScan:
    """What scanning one file found.

    `globals`: everything its pickles import; `dangerous`: those that run code, touch files or
    the network; `unknown`: other globals off the allow-list (`torch.load(weights_only=True)`
    refuses them too); `members`: the pickle streams read; `inconclusive`: why some part could
    not be read to its end (then the file is not clean, whatever else was found); `formats`:
    what the first bytes said, outermost first.
    """

    path: str
    globals: tuple[str, ...] = ()
    dangerous: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    inconclusive: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        """One of `VERDICTS`: the worst thing found."""
        if self.dangerous:
            return "dangerous"
        if self.inconclusive:
            return "inconclusive"
        if self.unknown:
            return "unknown-global"
        return "clean" if self.members else "not-pickle"


def scan_file(path: str | Path) -> PickleScan:
    """Scan the file at `path`, whatever its name says it is; never raises for a bad file.

    A `.safetensors` file whose header is not safetensors JSON is inconclusive (and its pickles,
    if it has any, are read like any file's). A file that is not a regular file, or that cannot
    be read, is inconclusive.
    """
    p = Path(path)
    out = Findings()
    try:
        if not stat.S_ISREG(p.stat().st_mode):
            # a FIFO or device planted in the cache would block or never end (docs/threat-model.md: bound everything)
            return PickleScan(path=str(p), inconclusive=(f"{p.name}: not a regular file",), formats=("special",))
        with p.open("rb") as f:
            size = p.stat().st_size
            if p.name.lower().endswith(".safetensors"):
                problem = _safetensors_problem(f, size)
                if problem is None:
                    return PickleScan(path=str(p), formats=("safetensors",))
                out.fail(p.name, f"named .safetensors but {problem}")
                f.seek(0)
            scan_stream(f, size, p.name, out, name=p.name)
    except OSError as e:
        out.fail(p.name, f"cannot be read ({e.strerror or e})")
    return _result(str(p), out)


def sniff_file(path: str | Path) -> str:
    """The format of the file at `path` by its first bytes (`formats.sniff`); "data" for no pickle,
    "special" for a file that is not regular or cannot be read (`scan_file` says which)."""
    p = Path(path)
    try:
        if not stat.S_ISREG(p.stat().st_mode):
            return "special"  # never opened
        with p.open("rb") as f:
            head = f.read(512)
    except OSError:
        return "special"
    if p.name.lower().endswith(".safetensors"):
        return "safetensors?"  # decided by scan_file, header and all
    return sniff(head)  # "pickle?": only `scan_file` can tell


def scan_pickle_bytes(data: bytes, name: str = "data.pkl") -> PickleScan:
    """Scan `data` as the content of a file called `name` (for tests and callers holding bytes)."""
    out = Findings()
    scan_stream(io.BytesIO(data), len(data), name, out, name=name)
    return _result(name, out)


def _result(path: str, out: Findings) -> PickleScan:
    names = sorted(set(out.globals))
    kinds = {n: classify(n) for n in names}
    return PickleScan(
        path=path,
        globals=tuple(names),
        dangerous=tuple(n for n in names if kinds[n] == "dangerous"),
        unknown=tuple(n for n in names if kinds[n] == "unknown"),
        members=tuple(out.members),
        inconclusive=tuple(out.reasons),
        formats=tuple(out.formats),
    )


def _safetensors_problem(f: io.BufferedReader, size: int) -> str | None:
    # the format: an 8-byte little-endian header length, a JSON object of tensors, the data
    if size < 8:
        return "it is shorter than a safetensors header"
    (length,) = struct.unpack("<Q", f.read(8))
    if length > min(_MAX_SAFETENSORS_HEADER, size - 8):
        return f"its header length ({length}) runs past the file"
    try:
        header = json.loads(f.read(length))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "its header is not JSON"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    data = size - 8 - length
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data):
            return f"tensor {key!r} has no valid data_offsets"
    return None

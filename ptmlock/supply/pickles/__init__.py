"""Find what a model file would run when loaded, by reading its pickles opcode by opcode; never unpickles.

Loading a pickle runs whatever callables its GLOBAL / STACK_GLOBAL / INST opcodes name (then
REDUCE calls them), so a weights file can carry `os.system`. `scan_file` decides the format the
way the loaders do (`formats`), walks every pickle stream in it with a model of the unpickler's
stack and memo (`machine`), and sorts what they import against an exact allow-list
(`allowlist`). It fails closed: a file it could not read to its end is `inconclusive`, never
clean (issue 12). Formats beyond pickles (Keras, SavedModel, ONNX, GGUF, safetensors) have their
own checks (`graphs`, `others`). See docs/pickles.md. May import only the base layer and
install.hashing (for the cache of verified files); the guard and `audit --deep` import it.
"""
from __future__ import annotations

import io
import mmap
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ptmlock.supply.pickles.allowlist import DYNAMIC, classify
from ptmlock.supply.pickles.formats import PICKLE_NAMES, Findings, scan_stream, sniff
from ptmlock.supply.pickles.graphs import onnx_flags, savedmodel_flags
from ptmlock.supply.pickles.machine import Unreadable
from ptmlock.supply.pickles.others import safetensors_problem

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


@dataclass(frozen=True)
class PickleScan:
    """What scanning one file found.

    `globals`: everything its pickles import; `dangerous`: those known to run code, touch files
    or the network; `unlisted`: globals outside the allow-list the scanner knows nothing about
    (as severe as dangerous: a full unpickle calls them); `unknown`: reviewed weights-style
    classes off the allow-list (`allowlist.WEIGHTS_STYLE`: `torch.load(weights_only=True)`
    refuses them, `trust-pickle = true` accepts them); `members`: the pickle streams read;
    `inconclusive`: why some part could not be read to its end (then the file is not clean,
    whatever else was found); `formats`: what the first bytes said, outermost first.
    """

    path: str
    globals: tuple[str, ...] = ()
    dangerous: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    unlisted: tuple[str, ...] = ()
    flags: tuple[tuple[str, str], ...] = ()  # (finding code, message) beyond pickles: Keras, TF, ONNX, GGUF...
    members: tuple[str, ...] = ()
    inconclusive: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        """One of `VERDICTS`: the worst thing found."""
        if self.dangerous or self.unlisted or self.flags:
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
            lower = p.name.lower()
            if lower.endswith(".safetensors"):
                problem = safetensors_problem(f, size)
                f.seek(0)
                if problem is None:
                    out.formats.append("safetensors")
                    scan_stream(f, size, p.name, out, name=p.name)
                    if out.formats[1:] == ["data"] and not out.reasons:
                        return PickleScan(path=str(p), formats=("safetensors",))
                    out.fail(p.name, f"a valid safetensors file whose bytes another loader also reads "
                                     f"(as {', '.join(out.formats[1:])})")
                    return _result(str(p), out)
                out.flag(p.name, [("safetensors-invalid", f"named .safetensors but {problem}; the safetensors "
                                                          "library refuses it, other loaders may not")])
            elif lower.endswith((".onnx", ".pb")) and size:
                _scan_graph(f, p.name, lower, out)
                f.seek(0)
            scan_stream(f, size, p.name, out, name=p.name)
    except OSError as e:
        out.fail(p.name, f"cannot be read ({e.strerror or e})")
    except Exception as e:  # noqa: BLE001 -- a scanner failure is this file's inconclusive finding (issue 23)
        out.fail(p.name, f"the scanner failed ({type(e).__name__}: {e})")
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
    try:
        scan_stream(io.BytesIO(data), len(data), name, out, name=name)
    except Exception as e:  # noqa: BLE001 -- as scan_file
        out.fail(name, f"the scanner failed ({type(e).__name__}: {e})")
    return _result(name, out)


def _result(path: str, out: Findings) -> PickleScan:
    names = sorted(set(out.globals))
    kinds = {n: classify(n) for n in names}
    return PickleScan(
        path=path,
        globals=tuple(names),
        dangerous=tuple(n for n in names if kinds[n] == "dangerous"),
        unknown=tuple(n for n in names if kinds[n] == "weights-style"),
        unlisted=tuple(n for n in names if kinds[n] == "unknown"),
        members=tuple(out.members),
        inconclusive=tuple(out.reasons),
        formats=tuple(out.formats),
        flags=tuple(dict.fromkeys(out.flags)),
    )


def _scan_graph(f: BinaryIO, name: str, lower: str, out: Findings) -> None:
    # protobuf graphs have no magic: an .onnx is ONNX, a .pb a TensorFlow SavedModel
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            out.formats.append("onnx" if lower.endswith(".onnx") else "savedmodel")
            out.flag(name, onnx_flags(view) if lower.endswith(".onnx") else savedmodel_flags(view))
        except Unreadable as e:
            out.fail(name, e)
        finally:
            view.release()

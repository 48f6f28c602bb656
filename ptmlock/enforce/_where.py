"""Where a load was made and how the guard says so: the user's frame, its `file:line`, and a
warning that never raises into the program (issue 13)."""
from __future__ import annotations

import sys

from ptmlock.enforce._warning import PtmlockWarning

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any

# Frames of these packages are never the "call site" a message points at.
_LIBRARY_ROOTS = frozenset({
    "ptmlock", "huggingface_hub", "transformers", "diffusers", "sentence_transformers", "timm", "peft",
    "open_clip", "torch", "torchvision", "accelerate", "safetensors", "tokenizers", "tqdm", "httpx", "httpx2",
    "importlib", "contextlib", "functools", "threading", "concurrent", "runpy", "asyncio", "fsspec", "datasets",
    "pandas", "pyarrow",
})


def site(frame: FrameType | None) -> str:
    """`file:line` of the call; for code without a file (`exec` of a string, `-c`, a REPL, a
    notebook cell) also the nearest enclosing frame that has one, when there is one."""
    if frame is None:
        return "<unknown>"
    here = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    if frame.f_code.co_filename.startswith("<"):
        outer = frame.f_back
        while outer is not None:
            name = outer.f_code.co_filename
            if not name.startswith("<") and (outer.f_globals.get("__name__") or "").partition(".")[0] \
                    not in _LIBRARY_ROOTS:
                return f"{here} (in code run from {name}:{outer.f_lineno})"
            outer = outer.f_back
    return here


def user_frame() -> FrameType | None:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__") or ""
        if name.partition(".")[0] not in _LIBRARY_ROOTS and not frame.f_code.co_filename.startswith("<frozen"):
            return frame
        frame = frame.f_back
    return None


def warn(message: str, frame: FrameType | None) -> None:
    """Warn at `frame` (the user's line). Never raises, except the warning itself when a filter
    turned it into an error: the source-line lookup `warn_explicit` does through the module's
    loader raises under `python -c`, stdin and other loaders with no source (issue 13)."""
    import warnings  # not at import: `import ptmlock.enforce` must stay cheap (issue 21)

    try:
        if frame is None:
            warnings.warn(message, PtmlockWarning, stacklevel=3)
            return
        g = frame.f_globals
        filename = frame.f_code.co_filename
        registry = g.get("__warningregistry__")
        if not isinstance(registry, dict):
            registry = g["__warningregistry__"] = {}
        warnings.warn_explicit(message, PtmlockWarning, filename, frame.f_lineno, module=g.get("__name__"),
                               registry=registry, module_globals=g if _has_source(filename, g) else None)
    except PtmlockWarning:
        raise
    except Exception:  # a broken stderr, a hostile showwarning, odd globals: last resort, plain stderr
        try:
            sys.stderr.write(f"PtmlockWarning: {message}\n")
        except Exception:
            pass


def _has_source(filename: str, module_globals: dict[str, Any]) -> bool:
    # linecache asks `__loader__.get_source(__name__)`, which raises for BuiltinImporter
    # (`python -c`, stdin) and for loaders that do not know the name: ask it first, safely.
    import linecache

    try:
        return bool(linecache.getlines(filename, module_globals))
    except Exception:
        return False

"""ptmlock: a package manager for pre-trained models.

Importing this package is cheap: it loads no ML library and no huggingface_hub.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Selection", "__version__", "select"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ptmlock._select import Selection, select


def __getattr__(name: str) -> object:
    # `ptmlock.select` is loaded on first use, so `import ptmlock` stays cheap.
    if name in ("select", "Selection"):
        from ptmlock import _select

        return getattr(_select, name)
    raise AttributeError(f"module 'ptmlock' has no attribute {name!r}")

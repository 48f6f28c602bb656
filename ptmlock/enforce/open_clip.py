"""open_clip: `create_model("hf-hub:org/repo")`, named pretrained tags, `get_tokenizer`.

open_clip has no revision parameter at all; it downloads through its own `functools.partial`
of `hf_hub_download` (`pretrained.py`), whose guarded function injects the locked commit, so
the lock applies anyway. Weights named by URL (`download_pretrained_from_url`, plain urllib) are
decided as `url` models: allowed when ptm.toml lists the URL, else warned about or refused.
"""
from __future__ import annotations

from ptmlock.enforce._hooks import ArgSpec, wrap_function, wrap_methods
from ptmlock.enforce._runtime import active, check, scoped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

LIBRARY = "open_clip"

_ENTRY_POINTS: tuple[tuple[str | None, str], ...] = (
    (None, "create_model"), (None, "create_model_and_transforms"), (None, "create_model_from_pretrained"),
    (None, "get_tokenizer"),
)


def guard_url(library: str, url_arg: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrapper factory for a function downloading one weight file by URL (a `url` model)."""

    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        spec = ArgSpec(original)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if active():
                check(spec.get(args, kwargs, url_arg), None, library=library, hub="url")
            return original(*args, **kwargs)

        return scoped(library)(wrapper)

    return factory


def _patch_factory(module: ModuleType) -> None:
    wrap_methods(module, [e for e in _ENTRY_POINTS if hasattr(module, e[1])], scoped(LIBRARY))


def _patch_pretrained(module: ModuleType) -> None:
    wrap_function(module, "download_pretrained_from_url", guard_url(LIBRARY, "url"))


PATCHES = {"open_clip.factory": _patch_factory, "open_clip.pretrained": _patch_pretrained}

"""torch.hub: `torch.hub.load("owner/repo[:ref]", ...)` (also `list` and `help`) from GitHub, and
`load_state_dict_from_url` (timm's and torchvision's URL weights).

GitHub repos are `torchhub` models: `_get_cache_or_reload(github, ...)`, which `load`, `list`
and `help` all call before any download, is the choke point. A listed repo asked for the
manifest's ref (or none) is rewritten to `owner/repo:<locked commit>`, so torch.hub downloads
and caches exactly that commit (and skips its own default-branch probe). `source="local"` never
reaches it. URL weights are `url` models, decided like open_clip's.
"""
from __future__ import annotations

from ptmlock.enforce._hooks import ArgSpec, wrap_function, wrap_methods
from ptmlock.enforce._runtime import active, check, scoped
from ptmlock.enforce.open_clip import guard_url

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

LIBRARY = "torch.hub"


def _guard_repo(original: Callable[..., Any]) -> Callable[..., Any]:
    spec = ArgSpec(original)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        github = spec.get(args, kwargs, "github")
        if active() and isinstance(github, str):
            repo, sep, ref = github.partition(":")
            verdict = check(repo, ref if sep else None, library=LIBRARY, hub="torchhub")
            if verdict is not None and verdict.action == "rewrite":
                args, kwargs = spec.set(args, kwargs, "github", f"{repo}:{verdict.revision}")
        return original(*args, **kwargs)

    return wrapper


def _patch_hub(module: ModuleType) -> None:
    wrap_function(module, "_get_cache_or_reload", _guard_repo)
    wrap_methods(module, ((None, "load"), (None, "list"), (None, "help")), scoped(LIBRARY))
    wrap_function(module, "load_state_dict_from_url", guard_url(LIBRARY, "url"))


PATCHES = {"torch.hub": _patch_hub}

"""open_clip: `create_model("hf-hub:org/repo")`, named pretrained tags, `get_tokenizer`.

open_clip has no revision parameter at all; it downloads through its own `functools.partial`
of `hf_hub_download` (`pretrained.py`), whose guarded function injects the locked commit, so
the lock applies anyway. Weights named by URL (`download_pretrained_from_url`, plain urllib) are
decided as `url` models: allowed when ptm.toml lists the URL, else warned about or refused; the
file it returns is checked against the sha256 in ptm.lock before open_clip reads it
(`torch_hub.guard_url`).
"""
from __future__ import annotations

from types import ModuleType  # types is loaded at interpreter start: no import cost

from ptmlock.enforce._hooks import wrap_function, wrap_methods
from ptmlock.enforce._runtime import scoped
from ptmlock.enforce.torch_hub import guard_url

LIBRARY = "open_clip"
# The distribution and the X.Y release lines CI runs these hooks with (.ci/run; see _versions).
TESTED = ("open_clip_torch", ("3.3",))

_ENTRY_POINTS: tuple[tuple[str | None, str], ...] = (
    (None, "create_model"), (None, "create_model_and_transforms"), (None, "create_model_from_pretrained"),
    (None, "get_tokenizer"),
)


def _patch_factory(module: ModuleType) -> None:
    wrap_methods(module, [e for e in _ENTRY_POINTS if hasattr(module, e[1])], scoped(LIBRARY))


def _patch_pretrained(module: ModuleType) -> None:
    wrap_function(module, "download_pretrained_from_url", guard_url(LIBRARY, "url"))


PATCHES = {"open_clip.factory": _patch_factory, "open_clip.pretrained": _patch_pretrained}

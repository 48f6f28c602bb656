"""peft: `PeftModel.from_pretrained` / `load_adapter`, `PeftConfig.from_pretrained`, `AutoPeftModel*`.

peft downloads the adapter's `adapter_config.json` and weights with `hf_hub_download` (imported
by name in `config.py` and `utils/save_and_load.py`, trying `local_files_only=True` first), and
never resolves a revision: the guarded `hf_hub_download` decides each file and injects the
locked commit. `AutoPeftModel*` also loads the base model named in the adapter config, through
transformers, where it is decided as its own model. The entry points are scopes.
"""
from __future__ import annotations

from types import ModuleType  # types is loaded at interpreter start: no import cost

from ptmlock.enforce._hooks import wrap_methods
from ptmlock.enforce._runtime import scoped

LIBRARY = "peft"
# The distribution and the X.Y release lines CI runs these hooks with (.ci/run; see _versions).
TESTED = ("peft", ("0.21",))

_ENTRY_POINTS: dict[str, tuple[tuple[str | None, str], ...]] = {
    "peft.peft_model": (("PeftModel", "from_pretrained"), ("PeftModel", "load_adapter")),
    "peft.config": (("PeftConfigMixin", "from_pretrained"),),
    "peft.auto": (("_BaseAutoPeftModel", "from_pretrained"),),
}


def _patch_entry_points(module: ModuleType) -> None:
    wrap_methods(module, _ENTRY_POINTS[module.__name__], scoped(LIBRARY, "revision"))


PATCHES = {name: _patch_entry_points for name in _ENTRY_POINTS}

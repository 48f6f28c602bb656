"""timm: `create_model("hf-hub:org/name[@rev]")` and `create_model(arch, pretrained=True)`.

timm never resolves a revision: it downloads `config.json` and the weights one by one through
its own `functools.partial` of `hf_hub_download` (`models/_hub.py`), with the revision parsed
from `@rev` (`hf_split`), and maps default pretrained tags to `timm/<arch>.<tag>` first. The
guarded `hf_hub_download` inside that partial decides each file (so the lock is applied even
though `create_model` has no revision parameter); `create_model` is the scope, so one call is
one record. Pretrained weights from a `url` source go through `torch.hub.load_state_dict_from_url`
(see `torch_hub`).
"""
from __future__ import annotations

from types import ModuleType  # types is loaded at interpreter start: no import cost

from ptmlock.enforce._hooks import wrap_function
from ptmlock.enforce._runtime import scoped

LIBRARY = "timm"
# The distribution and the X.Y release lines CI runs these hooks with (.ci/run; see _versions).
TESTED = ("timm", ("1.0",))


def _patch_factory(module: ModuleType) -> None:
    wrap_function(module, "create_model", scoped(LIBRARY))


PATCHES = {"timm.models._factory": _patch_factory}

"""diffusers: `ModelMixin.from_pretrained`, `DiffusionPipeline.from_pretrained` / `download`,
`AutoModel.from_pretrained`, schedulers and configs (`ConfigMixin.load_config`).

Loading entry points call `utils.hub_utils._resolve_revision` once (it catches hub errors and
returns the ref unchanged): that is the resolver, so a listed model or pipeline gets the locked
commit for every component, config and shard, with no request. The pipeline's
`snapshot_download` and the models' `hf_hub_download` still go through huggingface_hub's
guarded functions, which also catch `load_config` of schedulers (it never resolves).
"""
from __future__ import annotations

from types import ModuleType  # types is loaded at interpreter start: no import cost

from ptmlock.enforce._hooks import wrap_function, wrap_methods
from ptmlock.enforce._runtime import scoped
from ptmlock.enforce.hf_hub import guard_resolver

LIBRARY = "diffusers"
# The distribution and the X.Y release lines CI runs these hooks with (.ci/run; see _versions).
TESTED = ("diffusers", ("0.42",))


def _patch_hub_utils(module: ModuleType) -> None:
    wrap_function(module, "_resolve_revision", guard_resolver(LIBRARY, "pretrained_model_name_or_path"))


_ENTRY_POINTS: dict[str, tuple[tuple[str | None, str], ...]] = {
    "diffusers.models.modeling_utils": (("ModelMixin", "from_pretrained"),),
    "diffusers.pipelines.pipeline_utils": (("DiffusionPipeline", "from_pretrained"), ("DiffusionPipeline", "download")),
    "diffusers.models.auto_model": (("AutoModel", "from_pretrained"),),
    "diffusers.configuration_utils": (("ConfigMixin", "load_config"),),
    "diffusers.schedulers.scheduling_utils": (("SchedulerMixin", "from_pretrained"),),
}


def _patch_entry_points(module: ModuleType) -> None:
    wrap_methods(module, _ENTRY_POINTS[module.__name__], scoped(LIBRARY, "revision"))


PATCHES = {"diffusers.utils.hub_utils": _patch_hub_utils, **{name: _patch_entry_points for name in _ENTRY_POINTS}}

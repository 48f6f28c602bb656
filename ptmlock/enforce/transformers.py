"""transformers: `from_pretrained` of models, configs, tokenizers, processors, feature and image
extractors, and `pipeline(model=...)`.

Every public entry point of transformers 5 calls `transformers.utils.hub.resolve_revision` once,
first, and passes what it returns as the revision of every file of that load. That function is
the choke point: for a listed model it returns the locked commit (no request), and a refusal
raised there reaches the caller, because transformers' "fail open" `except Exception` is inside
it, around the hub call. The entry points themselves are wrapped as scopes, so one
`from_pretrained` is one report record per repo it reads. Files still go through
huggingface_hub's guarded `hf_hub_download` / `try_to_load_from_cache`.
"""
from __future__ import annotations

import sys

from ptmlock.enforce._hooks import ArgSpec, is_wrapped, wrap_function, wrap_methods
from ptmlock.enforce._runtime import active, check, scoped
from ptmlock.enforce.hf_hub import guard_resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

LIBRARY = "transformers"
# The distribution and the X.Y release lines CI runs these hooks with (.ci/run; see _versions).
TESTED = ("transformers", ("4.57", "5.23"))

# module -> (class, method) entry points; None as the class for a module function; "A|B": the
# class is A in transformers 5, B in 4.
_ENTRY_POINTS: dict[str, tuple[tuple[str | None, str], ...]] = {
    "transformers.modeling_utils": (("PreTrainedModel", "from_pretrained"),),
    "transformers.configuration_utils": (("PreTrainedConfig|PretrainedConfig", "from_pretrained"),),  # 5.x|4.x
    "transformers.tokenization_utils_base": (("PreTrainedTokenizerBase", "from_pretrained"),),
    "transformers.processing_utils": (("ProcessorMixin", "from_pretrained"),),
    "transformers.feature_extraction_utils": (("FeatureExtractionMixin", "from_pretrained"),),
    "transformers.image_processing_base": (("ImageProcessingMixin", "from_pretrained"),),
    "transformers.video_processing_utils": (("VideoProcessorMixin|BaseVideoProcessor", "from_pretrained"),),
    "transformers.generation.configuration_utils": (("GenerationConfig", "from_pretrained"),),
    "transformers.models.auto.auto_factory": (("_BaseAutoModelClass", "from_pretrained"),),
    "transformers.models.auto.configuration_auto": (("AutoConfig", "from_pretrained"),),
    "transformers.models.auto.tokenization_auto": (("AutoTokenizer", "from_pretrained"),),
    "transformers.models.auto.processing_auto": (("AutoProcessor", "from_pretrained"),),
    "transformers.models.auto.feature_extraction_auto": (("AutoFeatureExtractor", "from_pretrained"),),
    "transformers.models.auto.image_processing_auto": (("AutoImageProcessor", "from_pretrained"),),
    "transformers.models.auto.video_processing_auto": (("AutoVideoProcessor", "from_pretrained"),),
    "transformers.pipelines": ((None, "pipeline"),),
}


def _patch_hub(module: ModuleType) -> None:
    if hasattr(module, "resolve_revision"):  # 5.x; 4.x passes the revision to each hf_hub_download call
        wrap_function(module, "resolve_revision", guard_resolver(LIBRARY, "path_or_repo_id"))


def _patch_entry_points(module: ModuleType) -> None:
    wrap_methods(module, _ENTRY_POINTS[module.__name__], scoped(LIBRARY, "revision"))
    for cls_name, _attr in _ENTRY_POINTS[module.__name__]:
        # "A|B" (a class renamed between releases): whichever the module has, as `wrap_methods` reads it
        base = next((getattr(module, n) for n in (cls_name or "").split("|") if n and hasattr(module, n)), None)
        if isinstance(base, type):
            _wrap_overrides(base)
    _patch_dynamic_modules()


# issue 21: a model-specific class may override `from_pretrained` with its own `revision="main"`
# default before calling the base's (Qwen2_5OmniForConditionalGeneration), or skip the base
# altogether (ClvpEncoderConfig): each override is an entry point of its own, so the scope starts
# at the user's call and reads the user's arguments. Classes defined later are wrapped as they are
# created (`__init_subclass__`), classes defined already now.
def _wrap_overrides(base: type) -> None:
    pending: list[type] = list(base.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "from_pretrained" in cls.__dict__:
            wrap_function(cls, "from_pretrained", scoped(LIBRARY, "revision"))
    hook = base.__dict__.get("__init_subclass__")
    original = getattr(hook, "__func__", None)
    if getattr(original, "__ptmlock_base__", None) is base:
        return

    def __init_subclass__(cls: Any, **kwargs: Any) -> None:
        if original is not None:
            original(cls, **kwargs)
        else:  # the next one in the MRO, as `base` had none of its own
            super(base, cls).__init_subclass__(**kwargs)  # type: ignore[arg-type]
        if "from_pretrained" in cls.__dict__:
            wrap_function(cls, "from_pretrained", scoped(LIBRARY, "revision"))

    __init_subclass__.__ptmlock_base__ = base  # type: ignore[attr-defined]
    base.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]


# issue 7: remote code in another repo (`auto_map` "other/repo--module.Class") is fetched at
# `code_revision`, which transformers does not take from the model's revision
# (dynamic_module_utils.get_class_from_dynamic_module): pass the commit ptm.lock pins for that repo.
# The auto classes import dynamic_module_utils first, so it is there when their patch runs.
def _patch_dynamic_modules() -> None:
    module = sys.modules.get("transformers.dynamic_module_utils")
    if module is None or is_wrapped(getattr(module, "get_class_from_dynamic_module", None)):
        return
    original = module.get_class_from_dynamic_module
    wrap_function(module, "get_class_from_dynamic_module", _with_code_revision)
    for name, other in list(sys.modules.items()):  # transformers modules that already copied the name
        namespace = getattr(other, "__dict__", None)
        if name.startswith("transformers.") and isinstance(namespace, dict) \
                and namespace.get("get_class_from_dynamic_module") is original:
            namespace["get_class_from_dynamic_module"] = module.get_class_from_dynamic_module


def _with_code_revision(original: Callable[..., Any]) -> Callable[..., Any]:
    spec = ArgSpec(original)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ref = spec.get(args, kwargs, "class_reference")
        if active() and isinstance(ref, str) and "--" in ref and spec.get(args, kwargs, "code_revision") is None:
            verdict = check(ref.split("--", 1)[0], None, library=LIBRARY)
            if verdict is not None and verdict.action == "rewrite" and verdict.revision is not None:
                args, kwargs = spec.set(args, kwargs, "code_revision", verdict.revision)
        return original(*args, **kwargs)

    return wrapper


PATCHES = {"transformers.utils.hub": _patch_hub, **{name: _patch_entry_points for name in _ENTRY_POINTS}}

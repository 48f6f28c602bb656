"""Which adapter patches which module. The adapter modules themselves are imported only when
one of their modules is (so `import ptmlock.enforce` stays cheap); each adapter's own `PATCHES`
must name the same modules (a test checks it)."""
from __future__ import annotations

from ptmlock.enforce import _hooks

TYPE_CHECKING = False
if TYPE_CHECKING:  # `types` is not loaded at interpreter start
    from types import ModuleType

ADAPTER_NAMES = ("hf_hub", "transformers", "sentence_transformers", "diffusers", "timm", "peft", "open_clip",
                 "torch_hub", "torch_load")

TARGETS: dict[str, str] = {
    "huggingface_hub.file_download": "hf_hub",
    "huggingface_hub._snapshot_download": "hf_hub",
    "huggingface_hub.hf_api": "hf_hub",
    "huggingface_hub.hf_file_system": "hf_hub",
    "transformers.utils.hub": "transformers",
    "transformers.modeling_utils": "transformers",
    "transformers.configuration_utils": "transformers",
    "transformers.tokenization_utils_base": "transformers",
    "transformers.processing_utils": "transformers",
    "transformers.feature_extraction_utils": "transformers",
    "transformers.image_processing_base": "transformers",
    "transformers.video_processing_utils": "transformers",
    "transformers.generation.configuration_utils": "transformers",
    "transformers.models.auto.auto_factory": "transformers",
    "transformers.models.auto.configuration_auto": "transformers",
    "transformers.models.auto.tokenization_auto": "transformers",
    "transformers.models.auto.processing_auto": "transformers",
    "transformers.models.auto.feature_extraction_auto": "transformers",
    "transformers.models.auto.image_processing_auto": "transformers",
    "transformers.models.auto.video_processing_auto": "transformers",
    "transformers.pipelines": "transformers",
    "sentence_transformers.util.file_io": "sentence_transformers",
    "sentence_transformers.base.model": "sentence_transformers",
    "diffusers.utils.hub_utils": "diffusers",
    "diffusers.models.modeling_utils": "diffusers",
    "diffusers.pipelines.pipeline_utils": "diffusers",
    "diffusers.models.auto_model": "diffusers",
    "diffusers.configuration_utils": "diffusers",
    "diffusers.schedulers.scheduling_utils": "diffusers",
    "timm.models._factory": "timm",
    "peft.peft_model": "peft",
    "peft.config": "peft",
    "peft.auto": "peft",
    "open_clip.factory": "open_clip",
    "open_clip.pretrained": "open_clip",
    "torch.hub": "torch_hub",
    "torch.serialization": "torch_load",
}
# (module, name) whose caller is itself a guarded entry point: never rebound (see hf_hub).
KEEP_ORIGINAL = (("huggingface_hub._snapshot_download", "hf_hub_download"),)


def _patch(module: ModuleType) -> None:
    import importlib

    from ptmlock.enforce import _versions

    name = TARGETS[module.__name__]
    adapter = importlib.import_module(f"ptmlock.enforce.{name}")
    try:
        adapter.PATCHES[module.__name__](module)
    except Exception as e:  # never break the user's import; say (once per library) which loads are not guarded
        _hooks.note_failure(module.__name__, e)
        try:
            _versions.hook_failed(adapter, module, e)
        except Exception:  # noqa: BLE001  (`-W error::PtmlockWarning` included: never break the import)
            pass
        return
    try:
        _versions.check_adapter(name, adapter, module)
    except Exception:  # noqa: BLE001  (a version note must never break the user's import)
        pass


def install() -> None:
    """Register every adapter's modules and install the import hook (patching what is already imported)."""
    _hooks.register(dict.fromkeys(TARGETS, _patch))
    for module, name in KEEP_ORIGINAL:
        _hooks.keep_original(module, name)
    _hooks.install()

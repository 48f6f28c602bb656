"""Enumerate, from the installed libraries, every public entry point that loads from the Hub.

Run as a script (in its own interpreter: it imports every class transformers exports):
`python enumerate_entry_points.py OUT.json`. It writes

- `counts`: {library: {kind: number of public entry points}} for transformers, diffusers,
  sentence-transformers, peft, timm and open_clip (a library that is not installed is absent);
- `transformers`: {kind: [{"name", "model_types", "default"}]}: every exported transformers class
  with `from_pretrained`, its kind, the model types it serves (its config's, or the auto
  mappings'), and the default of its `revision` parameter (what it passes when the caller passes
  none).

Kinds of transformers classes: config, model, tokenizer, tokenizer-fast, processor, feature-extractor,
image-processor, video-processor, generation-config, auto (the Auto* classes), plus `pipeline`.
Works with transformers 4.5x and 5.x.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
import warnings

# kind -> (module of its base class, base class names, first one found wins), most specific first
BASES = (
    ("generation-config", "transformers.generation", ("GenerationConfig",)),
    ("config", "transformers.configuration_utils", ("PreTrainedConfig", "PretrainedConfig")),
    ("model", "transformers.modeling_utils", ("PreTrainedModel",)),
    ("tokenizer", "transformers.tokenization_utils_base", ("PreTrainedTokenizerBase",)),
    ("processor", "transformers.processing_utils", ("ProcessorMixin",)),
    ("video-processor", "transformers.video_processing_utils", ("BaseVideoProcessor",)),
    ("image-processor", "transformers.image_processing_base", ("ImageProcessingMixin",)),
    ("feature-extractor", "transformers.feature_extraction_utils", ("FeatureExtractionMixin",)),
)
AUTO_MAPPINGS = {  # kind -> (module, mapping of model type -> class name(s))
    "tokenizer": ("transformers.models.auto.tokenization_auto", "TOKENIZER_MAPPING_NAMES"),
    "processor": ("transformers.models.auto.processing_auto", "PROCESSOR_MAPPING_NAMES"),
    "feature-extractor": ("transformers.models.auto.feature_extraction_auto", "FEATURE_EXTRACTOR_MAPPING_NAMES"),
    "image-processor": ("transformers.models.auto.image_processing_auto", "IMAGE_PROCESSOR_MAPPING_NAMES"),
    "video-processor": ("transformers.models.auto.video_processing_auto", "VIDEO_PROCESSOR_MAPPING_NAMES"),
}


def _names(value: object) -> list[str]:
    """Class names in an auto-mapping value: a name, (slow, fast), or {backend: name} (transformers 5)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [n for v in value for n in _names(v)]
    return []


def _model_types() -> dict[str, dict[str, list[str]]]:
    """{kind: {class name: [model types]}} from the auto mappings."""
    out: dict[str, dict[str, list[str]]] = {}
    for kind, (module, attr) in AUTO_MAPPINGS.items():
        try:
            mapping = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        for model_type, value in mapping.items():
            for name in _names(value):
                out.setdefault(kind, {}).setdefault(name, []).append(model_type)
    return out


def _has(module: object, name: str) -> bool:
    try:
        return getattr(module, name, None) is not None
    except Exception:  # noqa: BLE001
        return False


def _default(cls: type) -> object:
    try:
        parameter = inspect.signature(cls.from_pretrained).parameters.get("revision")
    except (TypeError, ValueError):
        return None
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None  # taken from **kwargs: `kwargs.get("revision")` / `kwargs.pop("revision", None)`
    return parameter.default


def enumerate_transformers() -> dict[str, list[dict[str, object]]]:
    import transformers

    bases = []
    for kind, module, names in BASES:
        try:
            mod = importlib.import_module(module)
        except ImportError:  # an older transformers without that kind (video processors before 4.52)
            continue
        base = next((getattr(mod, n) for n in names if hasattr(mod, n)), None)
        if base is not None:
            bases.append((kind, base))
    types = _model_types()
    out: dict[str, list[dict[str, object]]] = {}
    exported = {n for n in dir(transformers) if not n.startswith("_")}
    # transformers 5 still answers `from transformers import BertTokenizerFast` (an alias of the one
    # tokenizer class) without listing the name: users write those names, so they count
    exported |= {n + "Fast" for n in exported if n.endswith("Tokenizer") and _has(transformers, n + "Fast")}
    for name in sorted(exported):
        try:
            obj = getattr(transformers, name)
            if not (isinstance(obj, type) and callable(getattr(obj, "from_pretrained", None))):
                continue
        except Exception:  # noqa: BLE001  (a backend that is not installed: a dummy that raises)
            continue
        if name.startswith("Auto") or name == "pipeline":
            kind = "auto"
        else:
            kind = next((k for k, base in bases if issubclass(obj, base)), "other")
        if kind == "tokenizer" and name.endswith("Fast"):
            kind = "tokenizer-fast"
        own = getattr(obj, "model_type", None) if kind == "config" else None
        if kind == "model":
            own = getattr(getattr(obj, "config_class", None), "model_type", None)
        lookup = types.get("tokenizer" if kind == "tokenizer-fast" else kind, {})
        model_types = [own] if isinstance(own, str) and own else lookup.get(name) or lookup.get(obj.__name__, [])
        out.setdefault(kind, []).append({"name": name, "model_types": sorted(set(model_types)),
                                         "default": _default(obj)})
    out["pipeline"] = [{"name": "pipeline", "model_types": [], "default": _default_of(transformers.pipeline)}]
    return out


def _default_of(fn: object) -> object:
    parameter = inspect.signature(fn).parameters.get("revision")  # type: ignore[arg-type]
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def _loaders(module_name: str, names: tuple[str, ...] = ("from_pretrained",)) -> dict[str, int]:
    """{kind: count} of public classes of `module_name` with one of `names`, or functions named so."""
    module = importlib.import_module(module_name)
    classes = 0
    for attr in dir(module):
        if attr.startswith("_"):
            continue
        try:
            obj = getattr(module, attr)
        except Exception:  # noqa: BLE001
            continue
        if isinstance(obj, type) and any(callable(getattr(obj, n, None)) for n in names):
            classes += 1
    return {"classes with from_pretrained": classes}


def _diffusers() -> dict[str, int]:
    """diffusers' exported models, pipelines and schedulers (all `from_pretrained`), counted from its
    lazy import table: importing the 600 classes would cost more than the rest of the suite."""
    import diffusers

    where = getattr(diffusers, "_class_to_module", {})
    counts: dict[str, int] = {}
    for name, module in where.items():
        package = module.split(".")[0]
        if package in ("models", "pipelines", "schedulers", "modular_pipelines") and not name.endswith("Output"):
            counts[f"{package} (from_pretrained)"] = counts.get(f"{package} (from_pretrained)", 0) + 1
    return counts


def enumerate_others() -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    if importlib.util.find_spec("diffusers") is not None:
        counts["diffusers"] = _diffusers()
    if importlib.util.find_spec("peft") is not None:
        counts["peft"] = _loaders("peft")
    if importlib.util.find_spec("sentence_transformers") is not None:
        import sentence_transformers

        counts["sentence-transformers"] = {"model classes": sum(
            1 for n in dir(sentence_transformers) if n.endswith(("SentenceTransformer", "CrossEncoder", "SparseEncoder"))
            and isinstance(getattr(sentence_transformers, n), type))}
    if importlib.util.find_spec("timm") is not None:
        import timm

        counts["timm"] = {"pretrained tags (create_model)": len(timm.list_pretrained())}
    if importlib.util.find_spec("open_clip") is not None:
        import open_clip

        counts["open_clip"] = {"pretrained (arch, tag) pairs": len(open_clip.list_pretrained())}
    return counts


def main(out_path: str) -> None:
    warnings.simplefilter("ignore")
    result: dict[str, object] = {}
    if importlib.util.find_spec("transformers") is not None:
        found = enumerate_transformers()
        result["transformers"] = found
        result["counts"] = {"transformers": {k: len(v) for k, v in found.items()}, **enumerate_others()}
    else:
        result["counts"] = enumerate_others()
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1])

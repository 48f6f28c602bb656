"""Regenerate `ptmlock/scan/registry.json` from the installed libraries' own registries.

    python -m ptmlock.scan.regenerate [--check]

The table is what `ptmlock.scan.identity` answers from when a library is not imported: timm's
pretrained configs (which repo a bare architecture name downloads), open_clip's pretrained
table, torchvision's weight enums (the URL each names, and which one `pretrained=True` and
`weights="DEFAULT"` pick), transformers' task defaults (model and the revision transformers
pins), and sentence-transformers' name rules. The versions it was read from are recorded in the
file; `--check` exits 1 when the installed libraries would write a different table (CI can run
it after upgrading a library). Imports the libraries, so it is slow; nothing else imports it.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("registry.json")
_DISTRIBUTIONS = ("timm", "open_clip_torch", "torchvision", "transformers", "sentence-transformers")
_MODULES = {"timm": "timm", "open_clip_torch": "open_clip", "torchvision": "torchvision",
            "transformers": "transformers", "sentence-transformers": "sentence_transformers"}
_LEGACY_DEFAULT = re.compile(r"handle_legacy_interface\(\s*weights=\(\s*\"pretrained\",\s*(\w+)\.(\w+)\s*\)")


def _timm() -> dict[str, Any]:
    import timm
    from timm.models import get_pretrained_cfg

    sources: dict[str, str] = {}
    for name in timm.list_models(pretrained=True):
        cfg = get_pretrained_cfg(name)
        if cfg is None:
            continue
        if cfg.hf_hub_id:
            # "" stands for the usual `timm/<name>`, which is most of them
            sources[name] = "" if cfg.hf_hub_id == f"timm/{name}" else f"hub:{cfg.hf_hub_id}"
        elif cfg.url:
            sources[name] = f"url:{cfg.url}"
    defaults: dict[str, str] = {}
    for arch in timm.list_models():
        cfg = get_pretrained_cfg(arch)
        if cfg is not None and cfg.tag and f"{arch}.{cfg.tag}" in sources:
            defaults[arch] = cfg.tag
    return {"default-tag": dict(sorted(defaults.items())), "sources": dict(sorted(sources.items()))}


def _open_clip() -> dict[str, str]:
    import open_clip  # type: ignore[import-untyped]
    from open_clip import pretrained

    out: dict[str, str] = {}
    for model, tag in open_clip.list_pretrained():
        cfg = pretrained.get_pretrained_cfg(model, tag)
        hub = (cfg.get("hf_hub") or "").strip("/")
        # an `hf_hub` of `org/name/file` names a file inside the repo: the repo is the first two parts
        repo = "/".join(hub.split("/")[:2]) if hub else ""
        out[f"{model}/{tag.lower()}"] = f"hub:{repo}" if repo else f"url:{cfg['url']}"
    return dict(sorted(out.items()))


def _torchvision() -> dict[str, Any]:
    from torchvision import models  # type: ignore[import-untyped]

    weights: dict[str, str] = {}
    builders: dict[str, dict[str, str]] = {}
    for name in models.list_models():
        enum = models.get_model_weights(name)
        for member in enum:
            weights[f"{enum.__name__}.{member.name}"] = member.url
        entry = {"enum": enum.__name__, "default": enum.DEFAULT.name}
        builder = models.get_model_builder(name)
        m = _LEGACY_DEFAULT.search(inspect.getsource(builder))
        if m and m.group(1) == enum.__name__:
            entry["pretrained"] = m.group(2)
        builders[name] = entry
    return {"builders": dict(sorted(builders.items())), "weights": dict(sorted(weights.items()))}


def _pipeline() -> dict[str, Any]:
    from transformers.pipelines import SUPPORTED_TASKS, TASK_ALIASES

    tasks: dict[str, list[str]] = {}
    for task, info in SUPPORTED_TASKS.items():
        default: Any = info.get("default", {})  # type: ignore[attr-defined]
        model = default.get("model")
        pt = model.get("pt") if isinstance(model, dict) else model  # transformers 5: a tuple; 4: {"pt": ...}
        if isinstance(pt, tuple) and len(pt) == 2:
            tasks[task] = [pt[0], pt[1]]
    return {"aliases": dict(sorted(TASK_ALIASES.items())), "tasks": dict(sorted(tasks.items()))}


def _sentence_transformers() -> dict[str, Any]:
    import sentence_transformers
    from sentence_transformers.util.misc import ORIGINAL_TRANSFORMER_MODELS

    orgs = {}
    for cls in ("SentenceTransformer", "CrossEncoder", "SparseEncoder"):
        org = getattr(getattr(sentence_transformers, cls), "default_huggingface_organization", None)
        if org:
            orgs[cls] = org
    return {"organisations": orgs, "unprefixed": sorted(ORIGINAL_TRANSFORMER_MODELS)}


def build_table() -> dict[str, Any]:
    """The whole table, read from the installed libraries (imports all of them)."""
    versions = {d: importlib.metadata.version(d) for d in _DISTRIBUTIONS}
    return {
        "generated-by": "python -m ptmlock.scan.regenerate",
        "versions": versions,
        "timm": _timm(),
        "open_clip": _open_clip(),
        "torchvision": _torchvision(),
        "transformers-pipeline": _pipeline(),
        "sentence_transformers": _sentence_transformers(),
    }


def main(argv: list[str] | None = None) -> int:
    """Write the table (or, with --check, compare it); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m ptmlock.scan.regenerate", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is out of date; write nothing")
    args = parser.parse_args(argv)
    missing = [d for d in _DISTRIBUTIONS if importlib.util.find_spec(_MODULES[d]) is None]
    if missing:  # the libraries are the test-ml extra's (exit 3, as for any missing extra)
        print(f"error: regenerating the table reads the ML libraries, and {', '.join(missing)} "
              "is not installed: pip install 'ptmlock[test-ml]'", file=sys.stderr)
        return 3
    text = json.dumps(build_table(), indent=1, sort_keys=True) + "\n"
    if args.check:
        current = TABLE.read_text(encoding="utf-8") if TABLE.exists() else ""
        if current != text:
            print(f"{TABLE} is out of date for the installed libraries; run python -m ptmlock.scan.regenerate")
            return 1
        print(f"{TABLE} is up to date.")
        return 0
    TABLE.write_text(text, encoding="utf-8")
    print(f"Wrote {TABLE} ({len(text) // 1024} KiB).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

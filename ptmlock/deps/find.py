"""Which other repos a model needs, read from its small JSON files (pure: documents in, edges out).

| file (at the repo root) | what names another repo | reason |
|---|---|---|
| `adapter_config.json` (peft) | `base_model_name_or_path`, `revision` | `peft base model` |
| `config.json` (transformers) | `auto_map` values `other/repo--module.Class` | `auto_map code` |
| `model_index.json`, `modular_model_index.json` (diffusers) | a component `[library, class, {"pretrained_model_name_or_path" or "repo": id, "revision": ...}]`; `_class_name: [repo id, class]` when `<repo id>.py` is not in the repo | `diffusers component NAME`, `diffusers custom_pipeline` |
| `modules.json` (sentence-transformers) | a module `type` `other/repo--module.Class` | `sentence-transformers module NAME` |

sentence-transformers 6 loads every module from a subfolder (`path`) of the model's own repo,
so `path` never names another repo; only a module's remote-code `type` can.
Values that are not Hugging Face repo ids (local paths, community pipeline names) and a repo
naming itself are not dependencies.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ptmlock.constants import HUB_HUGGINGFACE
from ptmlock.names import is_repo_id as hf_repo_id
from ptmlock.scan.identity import legacy_alias

ADAPTER_CONFIG = "adapter_config.json"
CONFIG = "config.json"
MODEL_INDEX = "model_index.json"
MODULAR_MODEL_INDEX = "modular_model_index.json"
MODULES = "modules.json"
DEPENDENCY_FILES = (ADAPTER_CONFIG, CONFIG, MODEL_INDEX, MODULAR_MODEL_INDEX, MODULES)


@dataclass(frozen=True)
class Edge:
    """`parent` needs repo `target` at `revision` (None: the default branch) of `hub`, because of
    `reason`, as file `source` of the parent says ("" when the edge was taken from the old ptm.lock)."""

    parent: str
    target: str
    revision: str | None
    reason: str
    source: str
    hub: str = HUB_HUGGINGFACE  # issue 26: "url" for a weight URL a torchhub repo's hubconf.py downloads


def is_repo_id(value: object) -> bool:
    """True for an `owner/name` Hugging Face repo id, or one of the legacy root-level ids the Hub
    moved to organisations (`gpt2`); another bare name is a local folder or a community pipeline."""
    if not isinstance(value, str) or not hf_repo_id(value):
        return False
    return "/" in value or legacy_alias(value) is not None


def files_to_read(paths: set[str]) -> list[str]:
    """The dependency files present among a repo's `paths`, in a fixed order."""
    return [name for name in DEPENDENCY_FILES if name in paths]


def find_edges(parent: str, source: str, document: Any, paths: set[str]) -> list[Edge]:
    """The edges file `source` (parsed as `document`) of repo `parent` declares; `paths` are the
    repo's files. Pure; malformed parts are ignored, a wrong document type yields no edge."""
    if not isinstance(document, (dict, list)):
        return []
    found: list[Edge] = []

    def add(target: object, revision: object, reason: str) -> None:
        if is_repo_id(target) and str(target).casefold() != parent.casefold():
            found.append(Edge(parent, str(target), revision if isinstance(revision, str) and revision else None,
                              reason, source))

    if source == ADAPTER_CONFIG and isinstance(document, dict):
        add(document.get("base_model_name_or_path"), document.get("revision"), "peft base model")
    elif source == CONFIG and isinstance(document, dict):
        auto_map = document.get("auto_map")
        if isinstance(auto_map, dict):
            for value in auto_map.values():
                for ref in value if isinstance(value, list) else [value]:
                    if isinstance(ref, str) and "--" in ref:
                        add(ref.split("--", 1)[0], None, "auto_map code")
    elif source in (MODEL_INDEX, MODULAR_MODEL_INDEX) and isinstance(document, dict):
        class_name = document.get("_class_name")
        if isinstance(class_name, list) and class_name and isinstance(class_name[0], str) \
                and f"{class_name[0]}.py" not in paths:
            add(class_name[0], None, "diffusers custom_pipeline")
        for name, value in document.items():
            if name.startswith("_") or not isinstance(value, list) or len(value) != 3 or not isinstance(value[2], dict):
                continue
            spec = value[2]
            repo = spec.get("pretrained_model_name_or_path", spec.get("repo"))
            add(repo, spec.get("revision"), f"diffusers component {name}")
    elif source == MODULES and isinstance(document, list):
        for module in document:
            if isinstance(module, dict) and isinstance(module.get("type"), str) and "--" in module["type"]:
                add(module["type"].split("--", 1)[0], None, f"sentence-transformers module {module.get('name', '?')}")
    unique: dict[tuple[str, str | None, str], Edge] = {}
    for edge in found:
        unique.setdefault((edge.target.casefold(), edge.revision, edge.reason), edge)
    return list(unique.values())


REASON_SEP = "; "


def join_reasons(pairs: set[tuple[str, str]]) -> str:
    """The `reason` of a dependency needed by (parent, reason) `pairs`: the reason when they share
    one, else each as `reason (parent)`, sorted and joined with "; "."""
    reasons = {reason for _, reason in pairs}
    if len(reasons) == 1:
        return reasons.pop()
    return REASON_SEP.join(sorted(f"{reason} ({parent})" for parent, reason in pairs))


def reasons_for(reason: str, parent: str) -> list[str]:
    """The reasons a `join_reasons` string gives for `parent` (inverse of `join_reasons`)."""
    parts = reason.split(REASON_SEP)
    suffix = f" ({parent})"
    mine = [p[:-len(suffix)] for p in parts if p.endswith(suffix)]
    return mine or parts


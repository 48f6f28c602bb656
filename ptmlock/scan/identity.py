"""Which hub entry a library really fetches for what the code names: one answer for scan,
`init --from-code`, `add`, `lock` and the guard.

Libraries map short names to hub entries: timm picks a pretrained tag
(`vit_base_patch16_384` -> `timm/vit_base_patch16_384.augreg_in21k_ft_in1k`), open_clip looks a
(model, tag) pair up in its pretrained table, torchvision's weight enums name a URL,
`pipeline(task)` loads the task's default model at the revision transformers pins,
sentence-transformers prefixes bare names with its organisation, and the Hub moved legacy
root-level ids under organisations (`bert-base-uncased` -> `google-bert/bert-base-uncased`).

The answers come from `registry.json` beside this file, generated from the libraries
themselves by `python -m ptmlock.scan.regenerate` (the versions are recorded in it). Reading
the table costs a few milliseconds and imports nothing; importing timm to ask it would cost
seconds per scan. Pure: no network, no files but the table.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

HF = "huggingface"
TORCHHUB = "torchhub"
URL = "url"

_TABLE = os.path.join(os.path.dirname(__file__), "registry.json")

# (bare-name prefix or exact name, organisation) for the ids the Hub moved under organisations
# (transformers #28795). Not in any library's registry: the Hub redirects them.
_LEGACY = (
    ("albert-", "albert"), ("bert-", "google-bert"), ("camembert-base", "almanach"), ("ctrl", "Salesforce"),
    ("distilbert-", "distilbert"), ("distilgpt2", "distilbert"), ("distilroberta-", "distilbert"),
    ("gpt2", "openai-community"), ("openai-gpt", "openai-community"), ("roberta-", "FacebookAI"),
    ("t5-", "google-t5"), ("transfo-xl-", "transfo-xl"), ("xlm-", "FacebookAI"), ("xlnet-", "xlnet"),
)
_EXACT = {"camembert-base", "ctrl", "distilgpt2", "openai-gpt"}
_ORGS = {org.casefold() for _, org in _LEGACY}


@dataclass(frozen=True)
class Identity:
    """A hub entry: `hub` is huggingface, torchhub or url; `id` the repo id or URL; `revision`
    the ref the library itself pins (transformers' task defaults), else None."""

    hub: str
    id: str
    revision: str | None = None


@functools.lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    """The generated registry table (read once per process)."""
    import json  # here, not at the top: the guard imports this module for `legacy_alias` alone

    with open(_TABLE, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def legacy_alias(repo_id: str) -> str | None:
    """The other name of a legacy model id (bare <-> organisation form), or None."""
    if "/" not in repo_id:
        folded = repo_id.casefold()
        for prefix, org in _LEGACY:
            if folded == prefix or (prefix not in _EXACT and folded.startswith(prefix)):
                return f"{org}/{repo_id}"
        return None
    org, _, name = repo_id.partition("/")
    if org.casefold() not in _ORGS:
        return None
    alias = legacy_alias(name)
    return name if alias is not None and alias.casefold() == repo_id.casefold() else None


def hf_repo(repo_id: str) -> str:
    """A Hub repo id as the Hub serves it today: legacy root-level ids get their organisation."""
    alias = legacy_alias(repo_id) if "/" not in repo_id else None
    return alias or repo_id


def fetched_repo(repo_id: str, library: str, loader: str) -> str | None:
    """The repo a Hugging Face loader (`loader`, of `library`) really downloads for `repo_id`:
    sentence-transformers' prefix, the Hub's legacy ids; None for a bare name that is neither
    (the Hub has no other root-level repos: it is a local directory, or a name some other branch
    hands to another library, like torchaudio's `WAV2VEC2_ASR_BASE_960H`)."""
    if library == "sentence_transformers":
        found = sentence_transformers(repo_id, loader.rsplit(".", 1)[-1])
    else:
        found = hf_repo(repo_id)
    return found if "/" in found else None


def sentence_transformers(name: str, cls: str = "SentenceTransformer") -> str:
    """The repo `SentenceTransformer(name)` (or CrossEncoder, SparseEncoder) downloads: a bare
    name gets the class's organisation unless it is one of the original transformers models."""
    rules = table()["sentence_transformers"]
    org = rules["organisations"].get(cls)
    if org and "/" not in name and name.lower() not in rules["unprefixed"]:
        return f"{org}/{name}"
    return hf_repo(name)


def _source(text: str, default_hub_id: str) -> Identity:
    if text.startswith("url:"):
        return Identity(URL, text[4:])
    return Identity(HF, text[4:] if text.startswith("hub:") else default_hub_id)


def timm(name: str) -> Identity | None:
    """The entry `timm.create_model(name, pretrained=True)` downloads, or None when `name` is not
    a pretrained timm model the table knows (an unknown name: the caller decides)."""
    t = table()["timm"]
    arch, _, tag = name.partition(".")
    if not tag:
        tag = t["default-tag"].get(arch, "")
        if not tag:
            return None
    full = f"{arch}.{tag}"
    found = t["sources"].get(full)
    return None if found is None else _source(found, f"timm/{full}")


def open_clip(model: str, tag: str) -> Identity | None:
    """The entry open_clip's pretrained table names for (`model`, `tag`), or None."""
    found = table()["open_clip"].get(f"{model}/{tag.lower()}")
    return None if found is None else _source(found, "")


def torchvision(builder: str, weights: str | None, pretrained: bool) -> Identity | None:
    """The URL torchvision downloads for `builder(weights=...)` or `builder(pretrained=True)`.

    `weights` is the enum member as written (`ResNet50_Weights.IMAGENET1K_V2`, `IMAGENET1K_V2`,
    `"DEFAULT"`, `ResNet50_Weights.DEFAULT`); None with `pretrained` means the legacy default.
    """
    tv = table()["torchvision"]
    entry = tv["builders"].get(builder.lower())
    if entry is None:
        return None
    if weights is None:
        if not pretrained or "pretrained" not in entry:
            return None
        member = entry["pretrained"]
    else:
        member = weights.rsplit(".", 1)[-1]
        if member == "DEFAULT":
            member = entry["default"]
    url = tv["weights"].get(f"{entry['enum']}.{member}")
    return None if url is None else Identity(URL, url)


def pipeline_default(task: str) -> Identity | None:
    """The model `pipeline(task)` loads when given none, at the revision transformers pins."""
    p = table()["transformers-pipeline"]
    task = p["aliases"].get(task, task)
    found = p["tasks"].get(task)
    return None if found is None else Identity(HF, found[0], found[1])


def library_versions() -> dict[str, str]:
    """The library versions the table was generated from."""
    versions: dict[str, str] = table()["versions"]
    return versions

"""README.md front matter and the tags huggingface.co derives from a repo.

Only the YAML the hub's tests need is understood: top-level `key: value` scalars, inline
`[a, b]` lists and block lists of `- item` lines. Nested mappings are skipped.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_KEY_RE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*:(?:\s+(.*))?$")


def _scalar(text: str) -> Any:
    text = text.strip()
    if " #" in text and not text.startswith(("'", '"')):
        text = text.split(" #", 1)[0].rstrip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~", ""):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d*", text):
        return float(text)
    return text


def _inline_list(text: str) -> list[Any]:
    inner = text.strip()[1:-1].strip()
    return [_scalar(item) for item in inner.split(",")] if inner else []


def parse_front_matter(text: str) -> dict[str, Any]:
    """The YAML front matter at the top of a model card, as a dict ({} when there is none)."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        return {}
    data: dict[str, Any] = {}
    current: str | None = None
    for line in lines[1:end]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t-":
            item = line.strip()
            if current is not None and (item.startswith("- ") or item == "-"):
                data[current].append(_scalar(item[1:]))
            continue
        m = _KEY_RE.match(line)
        if not m:
            current = None
            continue
        key, value = m.group(1), (m.group(2) or "").strip()
        if not value:
            data[key] = []  # a block list follows (or a nested mapping, which stays an empty list)
            current = key
        elif value.startswith("[") and value.endswith("]"):
            data[key] = _inline_list(value)
            current = None
        else:
            data[key] = _scalar(value)
            current = None
    # a key followed by nothing we understood is null, not an empty list
    return {k: (None if v == [] else v) for k, v in data.items()}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


_FORMAT_TAGS = (
    ((".safetensors",), "safetensors"),
    ((".bin", ".pt", ".pth"), "pytorch"),
    ((".h5",), "tf"),
    ((".msgpack",), "jax"),
    ((".onnx",), "onnx"),
    ((".gguf",), "gguf"),
)


def model_tags(card: dict[str, Any], paths: Iterable[str]) -> list[str]:
    """The `tags` list huggingface.co computes for a model: library, formats, task, card tags, license."""
    names = list(paths)
    tags = _as_list(card.get("library_name"))
    tags += [tag for suffixes, tag in _FORMAT_TAGS if any(n.endswith(suffixes) for n in names)]
    tags += _as_list(card.get("tags"))
    tags += _as_list(card.get("pipeline_tag"))
    tags += _as_list(card.get("language"))
    tags += [f"base_model:{b}" for b in _as_list(card.get("base_model"))]
    tags += [f"dataset:{d}" for d in _as_list(card.get("datasets"))]
    tags += [f"license:{lic}" for lic in _as_list(card.get("license"))]
    return _unique([*tags, "region:us"])


def dataset_tags(card: dict[str, Any]) -> list[str]:
    """The `tags` list huggingface.co computes for a dataset."""
    tags = _as_list(card.get("tags"))
    tags += [f"task_categories:{t}" for t in _as_list(card.get("task_categories"))]
    tags += [f"language:{lang}" for lang in _as_list(card.get("language"))]
    tags += [f"license:{lic}" for lic in _as_list(card.get("license"))]
    return _unique([*tags, "region:us"])

"""What `ptmlock.scan.scanner` looks for: the loader table and model-id classification (the
pre-filter that must stay a superset of it is `scan.prefilter`).

Pure data and string functions; no AST walking here (that is `scan.analyze`).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ptmlock.scan import identity

# --- the loader table -----------------------------------------------------------------------

HF = "huggingface"
TORCHHUB = "torchhub"
URL = "url"

# kinds: how the id argument is read and what makes the call a load
K_HF = "hf"                  # a Hub repo id (from_pretrained, hf_hub_download, SentenceTransformer, ...)
K_PIPELINE = "pipeline"      # transformers.pipeline: model=, or the task's default model
K_TIMM = "timm"
K_OPEN_CLIP = "open_clip"
K_TORCHVISION = "torchvision"
K_TORCH_HUB = "torch_hub"
K_URL = "url"
K_FETCH = "fetch"            # a generic HTTP fetch: a load only for a URL that names model files
K_CLIP = "clip"              # OpenAI CLIP: clip.load(name), name -> URL from its table
K_GEFFNET = "geffnet"        # geffnet.create_model(name, pretrained=True), name -> URL from its table
K_FLASHRANK = "flashrank"    # flashrank.Ranker(model_name=...): every model is a zip in one Hub repo


@dataclass(frozen=True)
class Loader:
    """One entry of the loader table: how to read a call's model id."""

    loader: str
    library: str
    kind: str
    id_pos: int | None
    id_kws: tuple[str, ...]
    hub: str = HF


def _hf(name: str, library: str, pos: int | None, *kws: str) -> Loader:
    return Loader(name, library, K_HF, pos, kws)


_REPO_ID = ("repo_id",)
# (top-level module, last name) -> loader; the canonical name is the public import path.
_FUNCTIONS: dict[tuple[str, str], Loader] = {
    ("huggingface_hub", "hf_hub_download"): _hf("huggingface_hub.hf_hub_download", "huggingface_hub", 0, *_REPO_ID),
    ("huggingface_hub", "snapshot_download"): _hf("huggingface_hub.snapshot_download", "huggingface_hub", 0, *_REPO_ID),
    ("huggingface_hub", "from_pretrained_keras"): _hf(
        "huggingface_hub.from_pretrained_keras", "huggingface_hub", 0, "pretrained_model_name_or_path"),
    ("transformers", "pipeline"): Loader("transformers.pipeline", "transformers", K_PIPELINE, 1, ("model",)),
    ("sentence_transformers", "SentenceTransformer"): _hf(
        "sentence_transformers.SentenceTransformer", "sentence_transformers", 0, "model_name_or_path"),
    ("sentence_transformers", "CrossEncoder"): _hf(
        "sentence_transformers.CrossEncoder", "sentence_transformers", 0, "model_name_or_path", "model_name"),
    ("sentence_transformers", "SparseEncoder"): _hf(
        "sentence_transformers.SparseEncoder", "sentence_transformers", 0, "model_name_or_path"),
    # models.StaticEmbedding.from_model2vec(id): a Model2Vec repo, as named (no organisation added)
    ("sentence_transformers", "from_model2vec"): _hf(
        "sentence_transformers.models.StaticEmbedding.from_model2vec", "sentence_transformers", 0, "model_id_or_path"),
    ("timm", "create_model"): Loader("timm.create_model", "timm", K_TIMM, 0, ("model_name",)),
    ("torch", "load_state_dict_from_url"): Loader(
        "torch.hub.load_state_dict_from_url", "url", K_URL, 0, ("url",), URL),
    ("torch", "load_url"): Loader("torch.utils.model_zoo.load_url", "url", K_URL, 0, ("url",), URL),
    ("torch", "download_url_to_file"): Loader("torch.hub.download_url_to_file", "url", K_URL, 0, ("url",), URL),
    # torchvision < 0.13 re-exported torch's helper as torchvision.models.utils.load_state_dict_from_url
    ("torchvision", "load_state_dict_from_url"): Loader(
        "torch.hub.load_state_dict_from_url", "url", K_URL, 0, ("url",), URL),
}
# download helpers of other packages that fetch model weights from a URL (issue 26)
for (_top, _last), _name in {
        ("basicsr", "load_file_from_url"): "basicsr.utils.download_util.load_file_from_url",
        ("facexlib", "load_file_from_url"): "facexlib.utils.load_file_from_url",
        ("timm", "download_cached_file"): "timm.models.download_cached_file"}.items():
    _FUNCTIONS[(_top, _last)] = Loader(_name, "url", K_URL, 0, ("url",), URL)
# generic fetchers: a load only where the URL names model files (`model_url`)
for (_top, _last), (_name, _kws) in {
        ("urllib", "urlopen"): ("urllib.request.urlopen", ("url",)),
        ("urllib", "urlretrieve"): ("urllib.request.urlretrieve", ("url",)),
        ("requests", "get"): ("requests.get", ("url",)),
        ("wget", "download"): ("wget.download", ("url",)),
        ("pooch", "retrieve"): ("pooch.retrieve", ("url",)),
        ("gdown", "download"): ("gdown.download", ("url",))}.items():
    _FUNCTIONS[(_top, _last)] = Loader(_name, "url", K_FETCH, 0, _kws, URL)
GENERIC_FETCHERS = frozenset(lo.loader for lo in _FUNCTIONS.values() if lo.kind == K_FETCH)
_FUNCTIONS[("clip", "load")] = Loader("clip.load", "clip", K_CLIP, 0, ("name",), URL)
_FUNCTIONS[("geffnet", "create_model")] = Loader("geffnet.create_model", "geffnet", K_GEFFNET, 0, ("model_name",), URL)
_FUNCTIONS[("flashrank", "Ranker")] = Loader("flashrank.Ranker", "flashrank", K_FLASHRANK, 0, ("model_name",))
_FUNCTIONS[("pylate", "ColBERT")] = _hf("pylate.models.ColBERT", "pylate", 0, "model_name_or_path")
for _name in ("create_model_and_transforms", "create_model", "create_model_from_pretrained"):
    _FUNCTIONS[("open_clip", _name)] = Loader(f"open_clip.{_name}", "open_clip", K_OPEN_CLIP, 0, ("model_name",))

TORCH_HUB_LOAD = Loader("torch.hub.load", "torch.hub", K_TORCH_HUB, 0, ("repo_or_dir",), TORCHHUB)
_TORCHVISION_NOT_BUILDERS = frozenset({
    "get_weight", "get_model_weights", "list_models", "get_model_builder", "create_feature_extractor",
    "get_graph_node_names", "handle_legacy_interface", "register_model",
})

# Methods found by name on any receiver; the receiver decides the library.
HF_METHODS = frozenset({"from_pretrained", "from_single_file", "load_lora_weights"})
HUB_METHODS = frozenset({"hf_hub_download", "snapshot_download"})
METHODS = HF_METHODS | HUB_METHODS

KNOWN_LIBRARIES = ("transformers", "diffusers", "peft", "sentence_transformers", "huggingface_hub", "timm", "open_clip")
# Libraries whose own `from_pretrained` does not load from the Hugging Face Hub
# (torch: `nn.Embedding.from_pretrained(tensor)`).
NOT_HUB_LIBRARIES = frozenset({
    "torch", "efficientnet_pytorch", "pytorch_pretrained_bert", "pytorch_transformers", "pytorch_pretrained_biggan",
    "paddlenlp", "paddle", "modelscope", "fairseq", "mindnlp",
})


def function_loader(qualname: str) -> Loader | None:
    """The loader for a call of the function or class `qualname` (fully imported name), if any."""
    parts = qualname.split(".")
    top, last = parts[0], parts[-1]
    if qualname == "torch.hub.load":
        return TORCH_HUB_LOAD
    found = _FUNCTIONS.get((top, last))
    if found is not None:
        return found
    if (top == "torchvision" and len(parts) >= 3 and parts[1] == "models" and last[:1].islower()
            and last not in _TORCHVISION_NOT_BUILDERS and not last.startswith("_")):
        name = "torchvision.models.get_model" if last == "get_model" else f"torchvision.models.{last}"
        pos = 0 if last == "get_model" else None
        return Loader(name, "torchvision", K_TORCHVISION, pos, ("name",) if pos == 0 else (), URL)
    return None


def method_loader(attr: str, receiver: str | None, written: str, file_libraries: frozenset[str]) -> Loader | None:
    """The loader for `<receiver>.<attr>(...)`.

    `receiver` is the fully imported name of the receiver (`transformers.AutoModel`, or the
    known base class of a local subclass) or None when it is not imported; `written` is the
    receiver as written. Returns None when the call is not a Hub load (a library whose own
    `from_pretrained` loads elsewhere, or `load_lora_weights` in a file without diffusers).
    """
    if attr in HUB_METHODS:
        return _hf(f"huggingface_hub.HfApi.{attr}", "huggingface_hub", 0, *_REPO_ID)
    top = receiver.split(".")[0] if receiver else ""
    last = receiver.rsplit(".", 1)[-1] if receiver else ""
    if top in NOT_HUB_LIBRARIES:
        return None
    if attr == "load_lora_weights":
        if "diffusers" not in file_libraries and top != "diffusers":
            return None
        cls = last if top == "diffusers" else "DiffusionPipeline"
        return _hf(f"diffusers.{cls}.load_lora_weights", "diffusers", 0, "pretrained_model_name_or_path_or_dict")
    if top in KNOWN_LIBRARIES and receiver and "." in receiver:
        library, name = top, f"{top}.{last}.{attr}"
    else:
        library = guess_library(file_libraries)
        name = f"{receiver or written}.{attr}"
    if attr == "from_single_file":
        return _hf(name, library, 0, "pretrained_model_link_or_path", "pretrained_model_name_or_path")
    if library == "peft" and (last.startswith("PeftModel") or last == "PeftMixedModel"):
        return _hf(name, library, 1, "model_id")  # PeftModel.from_pretrained(base_model, adapter_id)
    return _hf(name, library, 0, "pretrained_model_name_or_path")


def guess_library(file_libraries: frozenset[str]) -> str:
    """The library a `from_pretrained` on an unknown receiver most likely belongs to."""
    for library in ("transformers", "diffusers", "peft", "sentence_transformers", "huggingface_hub"):
        if library in file_libraries:
            return library
    return "transformers"


# --- model ids ------------------------------------------------------------------------------

_HF_ID = re.compile(r"[A-Za-z0-9_][\w.\-]{0,95}(?:/[A-Za-z0-9_.][\w.\-]{0,95})?\Z", re.ASCII)
_HF_URL = re.compile(
    r"https?://(?:www\.)?(?:huggingface\.co|hf\.co)/(?:(datasets|spaces)/)?"
    r"([\w.\-]+(?:/[\w.\-]+)?)(?:/(?:resolve|blob|tree)/([^/?#]+))?", re.ASCII)
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")
_FILE_SUFFIXES = (
    ".bin", ".pt", ".pth", ".ckpt", ".safetensors", ".json", ".h5", ".onnx", ".pkl", ".pickle",
    ".msgpack", ".gguf", ".npz", ".npy", ".tar", ".gz", ".zip", ".yaml", ".yml", ".txt", ".py",
)
_URL_SCHEMES = ("http://", "https://", "s3://", "gs://", "ftp://", "hf://")


@dataclass(frozen=True)
class Classified:
    """What a model-id string is: `kind` is "hf", "url", "local" or "invalid"."""

    kind: str
    value: str
    revision: str | None = None
    repo_type: str | None = None


def classify_id(text: str) -> Classified:
    """Tell a Hub repo id from a URL, a local path, or something that is neither."""
    s = text.strip()
    if not s:
        return Classified("invalid", s)
    if "\x00" in s:  # `values.PARTIAL`: a URL with a run-time part, an id only when the repo is whole
        m = _HF_URL.match(s)
        if m and s.startswith(_URL_SCHEMES) and "/" in m.group(2) and m.group(1) != "spaces" \
                and s[m.end(2):m.end(2) + 1] == "/":
            rev = m.group(3) if m.group(3) and "\x00" not in m.group(3) else None
            return Classified("hf", m.group(2), rev, "dataset" if m.group(1) == "datasets" else None)
        return Classified("invalid", s)
    if s.startswith(_URL_SCHEMES):
        m = _HF_URL.match(s)
        if m and m.group(1) != "spaces" and ("/" in m.group(2) or m.group(3)):
            repo_type = "dataset" if m.group(1) == "datasets" else None
            return Classified("hf", m.group(2), m.group(3), repo_type)
        return Classified("url", s)
    if (s.startswith(("/", "./", "../", "~", ".\\", "..\\")) or s in (".", "..") or "\\" in s
            or _DRIVE.match(s) or s.count("/") > 1 or s.lower().endswith(_FILE_SUFFIXES)):
        return Classified("local", s)
    if _HF_ID.match(s) and ".." not in s:
        return Classified("hf", s)
    return Classified("invalid", s)


_MODEL_FILE = re.compile(
    r"\.(?:pth|pt|bin|ckpt|safetensors|onnx|h5|pkl|pickle|npz|npy|zip|tar|tgz|gz|gguf|msgpack|pb|tflite|"
    r"model|params|caffemodel|t7|mar|keras|joblib)(?:[?#]|\Z)", re.I)


def model_url(url: str) -> bool:
    """Whether a URL fetched by a generic client (urlopen, requests.get, pooch...) names model files:
    a Hugging Face Hub URL, or a path ending in a weights or archive suffix."""
    c = classify_id(url)
    if c.kind == "hf":
        return "://" in url
    return c.kind == "url" and url.startswith(("http://", "https://", "ftp://")) and bool(_MODEL_FILE.search(url))


def split_at(text: str, sep: str) -> tuple[str, str | None]:
    """`"org/name@rev"` -> (`"org/name"`, `"rev"`); no separator -> (text, None)."""
    head, found, tail = text.partition(sep)
    return (head, tail or None) if found else (text, None)


def timm_id(name: str) -> Classified:
    """A timm model name as the entry timm downloads: `hf-hub:org/x@rev`, or the pretrained tag
    timm's registry picks (`vit_base_patch16_384` -> `timm/vit_base_patch16_384.augreg_in21k_ft_in1k`),
    else `timm/<name>` for a name the registry table does not know."""
    for prefix in ("hf-hub:", "hf_hub:"):
        if name.startswith(prefix):
            repo, rev = split_at(name[len(prefix):], "@")
            c = classify_id(repo)
            return Classified(c.kind, c.value, rev) if c.kind == "hf" else c
    arch = name.split(":", 1)[1] if name.startswith("timm:") else name
    arch = arch.rstrip("/").rsplit("/", 1)[-1]
    c = classify_id(arch)
    if c.kind != "hf" or "/" in arch:
        return Classified("invalid", name)
    known = identity.timm(arch)
    if known is not None:
        return Classified("hf" if known.hub == identity.HF else "url", known.id)
    return Classified("hf", f"timm/{arch}")


def open_clip_id(name: str, tag: str | None) -> Classified:
    """An open_clip (model_name, pretrained) pair as an id: `hf-hub:org/x` -> `org/x`,
    (`ViT-B-32`, `laion2b_s34b_b79k`) -> `open_clip:ViT-B-32/laion2b_s34b_b79k` (hub "url")."""
    if name.startswith(("hf-hub:", "hf_hub:")):
        repo, rev = split_at(name[7:], "@")
        c = classify_id(repo)
        return Classified("hf", c.value, rev) if c.kind == "hf" else c
    if tag is None:
        return Classified("invalid", name)
    t = classify_id(tag)
    if t.kind in ("local", "url"):
        return t
    if t.kind == "hf" and "/" not in tag and re.fullmatch(r"[\w.\-]+", name, re.ASCII):
        known = identity.open_clip(name, tag)
        if known is not None:
            return Classified("hf" if known.hub == identity.HF else "url", known.id)
        return Classified("url", f"open_clip:{name}/{tag}")
    return Classified("invalid", f"{name}/{tag}")

"""Which ModelPack layer kind a repo file is, and the model's `config.format` (issue 25). Pure.

The CNCF ModelPack spec (docs/spec.md) defines five layer kinds and describes each by examples:
weights; weight configuration "like tokenizer.json, config.json"; documentation "like README.md,
LICENSE"; code "scripts, code files"; datasets "needed for the lifecycle of AI/ML models". It
gives no file list, so the rules below (first match wins) follow those examples and modctl's
file patterns (`pkg/modelfile/constants.go`), the reference builder of the spec. docs/oci.md has
the table with the source of each rule. A file that no rule names is weight configuration with
`org.cncf.model.file.mediatype.untested: "true"`: a guess, said to be one.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ptmlock.constants import PICKLE_SUFFIXES, SAFE_WEIGHT_SUFFIXES

WEIGHT, WEIGHT_CONFIG, DOC, CODE, DATASET = "weight", "weight.config", "doc", "code", "dataset"

# weights: the formats ptmlock already knows, plus the ones modctl lists as model files
_WEIGHT_SUFFIXES = PICKLE_SUFFIXES + SAFE_WEIGHT_SUFFIXES + (
    ".onnx_data", ".pt2", ".pte", ".ptl", ".mar", ".tflite", ".pb", ".hdf5", ".keras", ".npy", ".npz", ".joblib",
    ".ggml", ".mlmodel", ".engine", ".trt", ".ot", ".caffemodel", ".llamafile", ".tensor", ".weights")
# a shard of a weight file split by size: `model.gguf.part1of3`, `x.bin.part2`, `x.safetensors.00001`,
# and TensorFlow checkpoints: `model.ckpt.data-00000-of-00001`, `model.ckpt.index`
_WEIGHT_PART = re.compile(r"(?i)(\.(?:gguf|bin|safetensors|pt|pth|onnx)\.(?:part\d+(?:of\d+)?|\d{3,})|"
                          r"\.data-\d+-of-\d+|\.ckpt\.index)$")
# tokenizers and vocabularies are configuration of the weights (the spec's own example, tokenizer.json)
_TOKENIZER = re.compile(r"(?i)(tokenizer|vocab|merges|spiece|sentencepiece|special_tokens|added_tokens|"
                        r"chat_template|preprocessor|generation_config)")
_CONFIG_SUFFIXES = (".json", ".json5", ".jsonc", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".config",
                    ".xml", ".jinja", ".model", ".params", ".hparams")
_DATASET_SUFFIXES = (".parquet", ".arrow", ".csv", ".tsv", ".feather", ".avro", ".tfrecord", ".tfrecords",
                     ".jsonl", ".jsonl.gz", ".csv.gz", ".wds")
_CODE_SUFFIXES = (".py", ".pyx", ".ipynb", ".sh", ".bash", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".cu", ".cuh",
                  ".js", ".ts", ".go", ".rs", ".java", ".jl", ".r", ".lua", ".so", ".dylib", ".dll", ".a", ".patch")
_CODE_NAMES = re.compile(r"(?i)^(makefile.*|dockerfile.*|cmakelists\.txt|requirements.*\.txt|pyproject\.toml|"
                         r"setup\.cfg|setup\.py)$")
_DOC_NAMES = re.compile(r"(?i)^(readme|license|licence|notice|copying|model_card|citation|changelog|authors|"
                        r"use_policy|responsible_use)([.\-_].*)?$")
_DOC_SUFFIXES = (".md", ".rst", ".txt", ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
_LARGE = 128 * 1024 * 1024  # modctl: an unknown file above 128 MiB is a weight file


@dataclass(frozen=True)
class Kind:
    """A file's ModelPack kind (`weight`, `weight.config`, `doc`, `code`, `dataset`) and whether
    that is a guess (`untested`)."""

    kind: str
    untested: bool = False


def classify(path: str, size: int = 0, *, repo_type: str = "model") -> Kind:
    """The kind of repo file `path` (of `size` bytes) in a `repo_type` ("model"/"dataset") repo."""
    name = path.rsplit("/", 1)[-1]
    lower = name.lower()
    if lower.endswith(".gitattributes") or lower.startswith("."):  # repo metadata: no kind fits; modctl skips it
        return Kind(WEIGHT_CONFIG, untested=True)
    if _CODE_NAMES.match(name):
        return Kind(CODE)
    if _DOC_NAMES.match(name) or lower.endswith((".md", ".rst", ".pdf")):
        return Kind(DOC)
    if repo_type == "dataset":  # a dataset repo's files are its data, whatever their suffix
        return Kind(DATASET)
    if lower.endswith(_WEIGHT_SUFFIXES) or _WEIGHT_PART.search(lower):
        return Kind(WEIGHT)
    if lower.endswith(_DATASET_SUFFIXES):
        return Kind(DATASET)
    if lower.endswith(_CODE_SUFFIXES):
        return Kind(CODE)
    if _TOKENIZER.search(lower) or lower.endswith(_CONFIG_SUFFIXES):
        return Kind(WEIGHT_CONFIG)
    if lower.endswith(_DOC_SUFFIXES):
        return Kind(DOC)
    return Kind(WEIGHT if size > _LARGE else WEIGHT_CONFIG, untested=True)


# config.format: the spec's vocabulary ("onnx", "safetensors", "gguf", "pt" for PyTorch), preferred
# in this order when a repo holds several (transformers loads safetensors before .bin).
_FORMATS = (("safetensors", (".safetensors",)), ("gguf", (".gguf",)), ("onnx", (".onnx", ".onnx_data")),
            ("pt", (".bin", ".pt", ".pth", ".ckpt", ".pt2")), ("tflite", (".tflite",)),
            ("keras", (".keras", ".h5", ".hdf5")), ("tensorflow", (".pb",)), ("msgpack", (".msgpack",)),
            ("pickle", (".pkl", ".pickle", ".joblib")), ("numpy", (".npy", ".npz")), ("coreml", (".mlmodel",)))


def model_format(weight_paths: Iterable[str]) -> str | None:
    """The `config.format` of a model whose weight files are `weight_paths`, or None (no weights)."""
    lowered = [p.lower() for p in weight_paths]
    for fmt, suffixes in _FORMATS:
        if any(p.endswith(suffixes) or any(s + "." in p for s in suffixes) for p in lowered):
            return fmt
    return None

"""Model formats that run code without pickles (issue 23, beyond pickles): Keras Lambda layers,
GGUF chat templates, and safetensors headers that the library would refuse.

- Keras v3 `.keras` (a zip with `config.json`) and Keras 2 HDF5 (`model_config` attribute):
  a `Lambda` layer holds marshalled Python bytecode (or a Python function) that runs on load or
  call. HDF5 is read without h5py: the model config is a JSON attribute stored as plain text, so
  the scanner looks for the Lambda class in it; an HDF5 file that names a `model_config` the
  scanner cannot find as text is inconclusive.
- GGUF (llama.cpp): the `tokenizer.chat_template*` strings are Jinja, rendered by
  transformers/llama-cpp-python; attribute walks to dunders (`__globals__`, `__builtins__`,
  `__class__`...), `|attr(...)`, and Jinja's own objects (`lipsum`, `cycler`, `joiner`, `self`)
  are server-side template injection, never needed by a chat template.
- safetensors: the header as the `safetensors` library checks it (0.4+): JSON object, known
  dtypes, `data_offsets` inside the data and matching dtype x shape, no overlap, no gap.
"""
from __future__ import annotations

import json
import re
import struct
from typing import IO

from ptmlock.supply.pickles.graphs import Flag
from ptmlock.supply.pickles.opcodes import Unreadable

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
GGUF_MAGIC = b"GGUF"
MAX_SAFETENSORS_HEADER = 100_000_000  # the safetensors library's own limit
_MAX_TEXT = 1 << 26  # config.json, chat templates: read at most this much
_LAMBDA = re.compile(rb'"class_name"\s*:\s*"(?:keras\.layers\.)?Lambda"')
_SSTI = re.compile(r"__\w+__|\|\s*attr\b|\b(?:lipsum|cycler|joiner|self|namespace|config|request|url_for)\s*\.\s*\w"
                   r"|\bimport\b|\.\s*(?:popen|system|eval|exec|mro|subclasses)\b")
_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2, "F16": 2,
           "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8, "F4": 0.5, "F6_E2M3": 0.75,
           "F6_E3M2": 0.75}
_GGUF_SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def keras_config_flags(config: bytes) -> list[Flag]:
    """Findings for a Keras model config (JSON): Lambda layers."""
    count = len(_LAMBDA.findall(config))
    if not count:
        return []
    return [("keras-lambda", f"{count} Keras Lambda layer{'s' if count != 1 else ''}: Python code (marshalled bytecode "
                             "or a function) that runs when the model is loaded or called")]


def hdf5_flags(f: IO[bytes]) -> list[Flag]:
    """Findings for an HDF5 file (Keras 2 `.h5`): Lambda layers in its `model_config`.

    Raises:
        Unreadable: a `model_config` whose JSON the scanner cannot find as text.
    """
    lambdas = names_config = has_config_json = False
    tail = b""
    while chunk := f.read(1 << 22):
        window = tail + chunk
        lambdas = lambdas or bool(_LAMBDA.search(window))
        names_config = names_config or b"model_config" in window
        has_config_json = has_config_json or b'"class_name"' in window
        tail = window[-256:]
    if lambdas:
        return keras_config_flags(b'"class_name": "Lambda"')
    if names_config and not has_config_json:
        raise Unreadable("an HDF5 model_config the scanner cannot read as text (h5py would be needed)")
    return []


def gguf_flags(f: IO[bytes]) -> list[Flag]:
    """Findings for a GGUF file: chat templates with Jinja code-execution constructs.

    Raises:
        Unreadable: a header the scanner cannot walk to the end of its key-value pairs.
    """
    head = f.read(8)
    version = struct.unpack("<I", head[4:8])[0] if len(head) == 8 else 0
    if version not in (1, 2, 3):
        raise Unreadable(f"GGUF version {version}, which the scanner does not read")
    width = "<I" if version == 1 else "<Q"
    size = struct.calcsize(width)
    _tensors, count = struct.unpack(width[0] + width[1] * 2, _exact(f, size * 2))
    out: list[Flag] = []
    for _ in range(count):
        key = _gguf_string(f, width)
        kind = struct.unpack("<I", _exact(f, 4))[0]
        value = _gguf_value(f, kind, width)
        if key.startswith("tokenizer.chat_template") and isinstance(value, str):
            hits = sorted({m.group(0) for m in _SSTI.finditer(value)})
            if hits:
                out.append(("gguf-template-code", f"chat template {key!r} uses Jinja constructs that reach Python "
                                                  f"objects (server-side template injection): {', '.join(hits[:6])}"))
    return out


def _exact(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise Unreadable("a GGUF header cut short")
    return data


def _gguf_string(f: IO[bytes], width: str) -> str:
    (length,) = struct.unpack(width, _exact(f, struct.calcsize(width)))
    if length > _MAX_TEXT:
        raise Unreadable(f"a GGUF string of {length} bytes")
    return _exact(f, length).decode("utf-8", errors="replace")


def _gguf_value(f: IO[bytes], kind: int, width: str) -> object:
    if kind in _GGUF_SCALARS:
        return _exact(f, _GGUF_SCALARS[kind])
    if kind == 8:
        return _gguf_string(f, width)
    if kind == 9:
        item = struct.unpack("<I", _exact(f, 4))[0]
        (n,) = struct.unpack(width, _exact(f, struct.calcsize(width)))
        if item in _GGUF_SCALARS:
            left = n * _GGUF_SCALARS[item]
            if left > 1 << 34:
                raise Unreadable("a GGUF array larger than the file could hold")
            while left:
                left -= len(_exact(f, min(left, 1 << 20)))
            return None
        return [_gguf_value(f, item, width) for _ in range(n)]
    raise Unreadable(f"GGUF value type {kind}, which the scanner does not read")


def safetensors_problem(f: IO[bytes], size: int) -> str | None:
    """Why the `safetensors` library would refuse the file, or None for a valid one."""
    if size < 8:
        return "it is shorter than a safetensors header"
    (length,) = struct.unpack("<Q", f.read(8))
    if length > min(MAX_SAFETENSORS_HEADER, size - 8):
        return f"its header length ({length}) runs past the file"
    try:
        header = json.loads(f.read(length))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "its header is not JSON"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    data = size - 8 - length
    spans: list[tuple[int, int, str]] = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data):
            return f"tensor {key!r} has no valid data_offsets (out of range of the {data} data bytes)"
        shape, dtype = entry.get("shape"), entry.get("dtype")
        if dtype not in _DTYPES or not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            return f"tensor {key!r} has an unknown dtype or a bad shape"
        elements = 1
        for n in shape:
            elements *= n
        if elements * _DTYPES[dtype] != offsets[1] - offsets[0]:
            return f"tensor {key!r}: its offsets span {offsets[1] - offsets[0]} bytes, its dtype and shape need " \
                   f"{elements * _DTYPES[dtype]:g}"
        spans.append((offsets[0], offsets[1], key))
    spans.sort()
    end = 0
    for start, stop, key in spans:
        if start < end:
            return f"tensor {key!r} overlaps another tensor's bytes"
        if start > end:
            return f"the bytes before tensor {key!r} belong to no tensor"
        end = stop
    if end != data:
        return f"the data region has {data - end} bytes no tensor covers"
    return None

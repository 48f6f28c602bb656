"""Model formats beyond pickles for `audit --deep` (issue 23): Keras Lambda layers, TensorFlow
SavedModel ops, ONNX external data and custom ops, GGUF chat templates, safetensors headers.

Files are built by code at run time (no blob committed). Protobufs, GGUF and the `.keras` zip are
written by hand from their published layouts; Keras HDF5 files and runnable `.keras` files need
keras and h5py, which the project's test environment does not have, so `write_keras` builds them
in another interpreter (the comparison benchmark's `--peer-venv`) when one is given.

`RUNNABLE` entries have a payload that creates a marker when loaded the way a user loads them
(`pickle_battery.LOADERS` plus the loaders below); `STRUCTURAL` entries are findings whose
payload current loaders refuse or that cannot run outside their own runtime (ONNX `..` paths:
onnx >= 1.16 refuses them; a custom op needs its native library; a hand-built SavedModel has no
variables to load) and are counted apart.
"""
from __future__ import annotations

import io
import json
import struct
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

from pickle_battery import LOADERS, Entry

# unsandboxed Jinja, as llama-cpp-python < 0.2.72 rendered GGUF chat templates (CVE-2024-34359)
LOADERS["jinja-gguf"] = (
    "import struct, jinja2\n"
    "f = open(P, 'rb'); f.read(8); _t, n = struct.unpack('<QQ', f.read(16))\n"
    "for _ in range(n):\n"
    "    k = f.read(struct.unpack('<Q', f.read(8))[0]).decode(); t = struct.unpack('<I', f.read(4))[0]\n"
    "    v = f.read(struct.unpack('<Q', f.read(8))[0]).decode()\n"
    "    if k == 'tokenizer.chat_template': jinja2.Environment().from_string(v).render(messages=[])\n"
)
LOADERS["keras"] = ("import keras, numpy\nmodel = keras.saving.load_model(P, safe_mode=False)\n"
                    "model.predict(numpy.zeros((1, 2)), verbose=0)")


# --- protobuf by hand -----------------------------------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb(number: int, value: int | bytes | str) -> bytes:
    """One protobuf field: a varint for ints, length-delimited otherwise."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def savedmodel(*ops: str) -> bytes:
    """A SavedModel protobuf whose graph has one node per op (and a function holding the last)."""
    nodes = b"".join(pb(1, pb(1, f"node_{i}") + pb(2, op)) for i, op in enumerate(ops[:-1]))
    function = pb(2, pb(1, pb(1, pb(1, "__inference_f")) + pb(3, pb(1, "inner") + pb(2, ops[-1]))))
    graph = nodes + function + pb(4, pb(1, 1808))
    return pb(1, 1) + pb(2, pb(1, pb(4, "2.21.0")) + pb(2, graph))


def onnx_model(*, location: str | None = None, domain: str = "") -> bytes:
    """An ONNX ModelProto (IR 8, opset 17): y = Identity(w), `w` inline or in external data."""
    if location is None:
        tensor = pb(1, 4) + pb(2, 1) + pb(8, "w") + pb(9, struct.pack("<4f", 1, 2, 3, 4))
    else:
        tensor = (pb(1, 4) + pb(2, 1) + pb(8, "w") + pb(13, pb(1, "location") + pb(2, location))
                  + pb(13, pb(1, "length") + pb(2, "16")) + pb(14, 1))
    node = pb(1, "w") + pb(2, "y") + pb(3, "n0") + pb(4, "Identity" if not domain else "Evil") + pb(7, domain)
    value_type = pb(1, pb(1, 1) + pb(2, pb(1, pb(1, 4))))
    graph = pb(1, node) + pb(2, "g") + pb(5, tensor) + pb(12, pb(1, "y") + pb(2, value_type))
    opsets = pb(8, pb(1, "") + pb(2, 17)) + (pb(8, pb(1, domain) + pb(2, 1)) if domain else b"")
    return pb(1, 8) + pb(2, "ptmlock-battery") + pb(7, graph) + opsets


# --- GGUF and safetensors -------------------------------------------------------------------------


def gguf(template: str) -> bytes:
    """A GGUF v3 header (no tensors) with an architecture and a chat template."""
    def text(s: str) -> bytes:
        raw = s.encode()
        return struct.pack("<Q", len(raw)) + raw

    pairs = [("general.architecture", "llama"), ("general.name", "battery"), ("tokenizer.chat_template", template)]
    body = b"".join(text(k) + struct.pack("<I", 8) + text(v) for k, v in pairs)
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + body


CHAT_TEMPLATE = ("{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
                 " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}"
                 "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")


def _ssti(marker: str) -> bytes:
    payload = ("{{ cycler.__init__.__globals__.__builtins__['__import__']('os').system('touch " + marker + "') }}")
    return gguf(payload + CHAT_TEMPLATE)


def safetensors_bytes(entries: dict[str, tuple[str, list[int], list[int]]], data: bytes) -> bytes:
    header = json.dumps({k: {"dtype": d, "shape": s, "data_offsets": o} for k, (d, s, o) in entries.items()}).encode()
    return struct.pack("<Q", len(header)) + header + data


# --- Keras ----------------------------------------------------------------------------------------


def keras_zip(layers: list[dict[str, object]]) -> bytes:
    """A Keras v3 `.keras` archive's config.json and metadata.json (weights left out)."""
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": layers},
              "registered_name": None}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1", "date_saved": "2026-01-01@00:00:00"}))
        zf.writestr("config.json", json.dumps(config))
    return buf.getvalue()


DENSE = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 2}}
LAMBDA = {"module": "keras.layers", "class_name": "Lambda",
          "config": {"name": "l", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}}}

_KERAS_SCRIPT = """
import os, sys, keras
marker, out, fmt, lam = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
layers = [keras.Input((2,))]
if lam:
    layers.append(keras.layers.Lambda(eval(f"lambda x: (open({marker!r}, 'w').close(), x)[1]")))
layers.append(keras.layers.Dense(2))
model = keras.Sequential(layers)
if os.path.exists(marker):
    os.unlink(marker)
model.save(out)
"""


def write_keras(python: str, directory: Path, marker_dir: Path) -> dict[str, tuple[Entry, Path, Path]]:
    """Real Keras files written by keras in `python`: Lambda in `.keras` and `.h5` (malicious) and
    their Lambda-free twins (benign, name prefixed `benign_`); {} when keras is missing there."""
    out: dict[str, tuple[Entry, Path, Path]] = {}
    for name, lam in (("lambda.keras", True), ("lambda.h5", True), ("benign_dense.keras", False),
                      ("benign_dense.h5", False)):
        path, marker = directory / name, marker_dir / f"{name}.ran"
        done = subprocess.run([python, "-c", _KERAS_SCRIPT, str(marker), str(path), name, "1" if lam else "0"],
                              capture_output=True, text=True, timeout=600, check=False,
                              env={"KERAS_BACKEND": "torch", "PATH": "/usr/bin:/bin"})
        if done.returncode != 0:
            return {}
        what = f"Keras {'v3 .keras' if name.endswith('.keras') else '2 HDF5'} with{'' if lam else 'out'} a Lambda layer"
        out[name] = (Entry(name, what, "keras", lambda m: b""), path, marker)
    return out


RUNNABLE: tuple[Entry, ...] = (
    Entry("ssti.gguf", "GGUF chat template walking cycler.__init__.__globals__ to os.system", "jinja-gguf", _ssti),
)

# (file name, what, bytes, the finding code expected)
STRUCTURAL: tuple[tuple[str, str, Callable[[], bytes], str], ...] = (
    ("pyfunc/saved_model.pb", "TF SavedModel with a PyFunc node", lambda: savedmodel("Const", "PyFunc"),
     "tf-dangerous-op"),
    ("writefile/saved_model.pb", "TF SavedModel whose function writes a file",
     lambda: savedmodel("Const", "ReadFile", "WriteFile"), "tf-dangerous-op"),
    ("external.onnx", "ONNX initializer read from ../../etc/passwd", lambda: onnx_model(location="../../etc/passwd"),
     "onnx-external-data"),
    ("custom_op.onnx", "ONNX node from a custom op domain", lambda: onnx_model(domain="com.evil.ops"), "onnx-custom-op"),
    ("overlap.safetensors", "safetensors with overlapping tensor offsets",
     lambda: safetensors_bytes({"a": ("F32", [2], [0, 8]), "b": ("F32", [2], [4, 12])}, b"\0" * 12),
     "safetensors-invalid"),
    ("out_of_range.safetensors", "safetensors offsets past the data",
     lambda: safetensors_bytes({"a": ("F32", [4], [0, 16])}, b"\0" * 8), "safetensors-invalid"),
    ("lambda_config.keras", "Keras v3 archive whose config has a Lambda layer (hand-built)",
     lambda: keras_zip([LAMBDA, DENSE]), "keras-lambda"),
)

BENIGN: tuple[tuple[str, str, Callable[[], bytes]], ...] = (
    ("saved_model.pb", "TF SavedModel with compute and checkpoint ops (hand-built)",
     lambda: savedmodel("Placeholder", "MatMul", "SaveV2", "RestoreV2", "Identity")),
    ("model.onnx", "ONNX Identity model, inline initializer (hand-built)", onnx_model),
    ("model_external.onnx", "ONNX with external data beside it (hand-built)",
     lambda: onnx_model(location="model.onnx.data")),
    ("llama.gguf", "GGUF v3 header with a Llama-3 style chat template", lambda: gguf(CHAT_TEMPLATE)),
    ("dense.keras", "Keras v3 archive config, Dense layer (hand-built)", lambda: keras_zip([DENSE])),
)

"""Protobuf model graphs read by hand (no tensorflow, no onnx): TensorFlow SavedModel ops and
ONNX external data and custom-op domains (issue 23, beyond pickles).

A minimal protobuf reader (`fields`) walks only the messages that name ops:
SavedModel.meta_graphs(2) -> MetaGraphDef.graph_def(2) -> GraphDef.node(1) / library(2) ->
FunctionDef.node_def(3) -> NodeDef.op(2); and ModelProto.graph(7) (and functions(25)) ->
GraphProto.node(1) -> NodeProto.domain(7), with sub-graphs in attributes (g=6, graphs=11);
GraphProto.initializer(5) -> TensorProto.external_data(13) -> {key(1), value(2)}. Field numbers
from tensorflow/core/protobuf/saved_model.proto, meta_graph.proto, graph.proto, function.proto,
node_def.proto (TF 2.x) and onnx/onnx.proto (IR 10).
"""
from __future__ import annotations

import posixpath
from collections.abc import Iterator

from ptmlock.supply.pickles.opcodes import Unreadable

Flag = tuple[str, str]  # (finding code, message)
# ops that run Python or touch files outside the model's own checkpoint ops (SaveV2/RestoreV2)
TF_DANGEROUS_OPS = frozenset({
    "PyFunc", "PyFuncStateless", "EagerPyFunc", "ReadFile", "WriteFile", "MatchingFiles", "WholeFileReader",
    "WholeFileReaderV2", "DeleteFile", "CreateSummaryFileWriter", "WriteSummary", "PrintV2", "ExperimentalLMDBDataset",
})
ONNX_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
                          "com.microsoft", "com.microsoft.nchwc", "com.microsoft.mlfeaturizers"})
_MAX_DEPTH = 64


def fields(data: bytes | memoryview) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, value) of one protobuf message: an int for varints and
    fixed fields, a memoryview for length-delimited ones.

    Raises:
        Unreadable: a truncated or malformed message.
    """
    view = memoryview(data)
    at = 0
    while at < len(view):
        key, at = _varint(view, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(view, at)
            yield number, wire, value
        elif wire == 2:
            length, at = _varint(view, at)
            if at + length > len(view):
                raise Unreadable("a protobuf field runs past the end of its message")
            yield number, wire, view[at:at + length]
            at += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if at + size > len(view):
                raise Unreadable("a protobuf field runs past the end of its message")
            yield number, wire, int.from_bytes(view[at:at + size], "little")
            at += size
        else:
            raise Unreadable(f"protobuf wire type {wire}, which the scanner does not read")


def _varint(view: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(view) or shift > 63:
            raise Unreadable("a truncated protobuf varint")
        byte = view[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _sub(data: object, number: int) -> Iterator[memoryview]:
    for n, wire, value in fields(data):  # type: ignore[arg-type]
        if n == number and wire == 2:
            yield value  # type: ignore[misc]


def _text(data: object, number: int) -> str:
    for value in _sub(data, number):
        return bytes(value).decode("utf-8", errors="replace")
    return ""


def savedmodel_flags(data: bytes | memoryview) -> list[Flag]:
    """Findings for a `saved_model.pb`: ops that run Python or read, write or list files."""
    found: dict[str, None] = {}
    for meta in _sub(data, 2):
        for graph in _sub(meta, 2):
            nodes = list(_sub(graph, 1))
            for library in _sub(graph, 2):
                for function in _sub(library, 1):
                    nodes += list(_sub(function, 3))
            for node in nodes:
                op = _text(node, 2)
                if op in TF_DANGEROUS_OPS:
                    found[f"{op} ({_text(node, 1) or 'unnamed'})"] = None
    if not found:
        return []
    return [("tf-dangerous-op", f"TensorFlow ops that run Python or touch files: {', '.join(found)}")]


def onnx_flags(data: bytes | memoryview) -> list[Flag]:
    """Findings for an ONNX model: external data paths that leave the model's folder (absolute,
    a drive, or `..` after normalising), and ops from domains outside ONNX and onnxruntime."""
    escapes: dict[str, None] = {}
    domains: dict[str, None] = {}
    graphs = list(_sub(data, 7))
    for function in _sub(data, 25):  # model-local functions: their nodes
        graphs.append(function)
    for opset in _sub(data, 8):
        domain = _text(opset, 1)
        if domain not in ONNX_DOMAINS:
            domains[domain] = None
    _walk_onnx(graphs, escapes, domains, 0)
    out: list[Flag] = []
    if escapes:
        out.append(("onnx-external-data", f"tensor data read from outside the model's folder: {', '.join(escapes)}"))
    if domains:
        out.append(("onnx-custom-op", f"operators from custom domains (a native op library must be loaded to run "
                                      f"them): {', '.join(sorted(domains))}"))
    return out


def _walk_onnx(graphs: list[memoryview], escapes: dict[str, None], domains: dict[str, None], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise Unreadable("ONNX sub-graphs nested too deep")
    for graph in graphs:
        for number in (5, 15):  # initializer, sparse_initializer (its values are a TensorProto too)
            for tensor in _sub(graph, number):
                for entry in _sub(tensor, 13):
                    if _text(entry, 1) == "location":
                        location = _text(entry, 2)
                        target = posixpath.normpath(location.replace("\\", "/"))
                        if location.startswith(("/", "\\")) or ":" in location or target.split("/")[0] == "..":
                            escapes[location] = None
        inner: list[memoryview] = []
        for node in _sub(graph, 1):
            domain = _text(node, 7)
            if domain not in ONNX_DOMAINS:
                domains[domain] = None
            for attribute in _sub(node, 5):
                inner += list(_sub(attribute, 6)) + list(_sub(attribute, 11))
        if inner:
            _walk_onnx(inner, escapes, domains, depth + 1)

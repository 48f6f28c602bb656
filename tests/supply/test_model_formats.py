"""`audit --deep` beyond pickles (issue 23): Keras Lambda layers, TensorFlow SavedModel ops, ONNX
external data and custom ops, GGUF chat templates, safetensors headers; each its own finding."""
from __future__ import annotations

import format_battery as formats
import pickle_battery as battery
import pytest

from ptmlock.supply.pickles import scan_file


def test_a_gguf_chat_template_with_ssti_runs_when_rendered_and_is_flagged(tmp_path):
    entry = formats.RUNNABLE[0]
    marker = tmp_path / "ran"
    path = tmp_path / entry.name
    path.write_bytes(entry.build(str(marker)))
    runs = battery.payloads_run({entry.name: (entry, path, marker)})
    assert runs[entry.name], "the template did not run its payload: the battery entry proves nothing"
    marker.unlink()
    result = scan_file(path)
    assert [code for code, _ in result.flags] == ["gguf-template-code"] and result.verdict == "dangerous"
    assert "__globals__" in result.flags[0][1] and not marker.exists()


@pytest.mark.parametrize(("name", "build", "code"), [(n, b, c) for n, _w, b, c in formats.STRUCTURAL])
def test_each_format_finding_has_its_own_code(tmp_path, name, build, code):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build())
    result = scan_file(path)
    assert [c for c, _ in result.flags] == [code], result
    assert result.verdict == "dangerous"


@pytest.mark.parametrize(("name", "build"), [(n, b) for n, _w, b in formats.BENIGN])
def test_benign_models_of_every_format_have_no_finding(tmp_path, name, build):
    path = tmp_path / name
    path.write_bytes(build())
    result = scan_file(path)
    assert result.flags == () and result.inconclusive == () and result.verdict == "not-pickle", result


def test_safetensors_header_validation_names_what_is_wrong(tmp_path):
    gap = tmp_path / "gap.safetensors"
    gap.write_bytes(formats.safetensors_bytes({"a": ("F32", [1], [4, 8])}, b"\0" * 8))
    (flag,) = scan_file(gap).flags
    assert flag[0] == "safetensors-invalid" and "belong to no tensor" in flag[1]
    size = tmp_path / "size.safetensors"
    size.write_bytes(formats.safetensors_bytes({"a": ("F32", [3], [0, 8])}, b"\0" * 8))
    assert "dtype and shape need 12" in scan_file(size).flags[0][1]


def test_an_hdf5_model_config_with_a_lambda_is_found_without_h5py(tmp_path):
    path = tmp_path / "model.h5"
    config = b'{"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {}}]}}'
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 200 + b"model_config" + b"\0" * 8 + config + b"\0" * 64)
    assert [c for c, _ in scan_file(path).flags] == ["keras-lambda"]
    unreadable = tmp_path / "other.h5"
    unreadable.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 200 + b"model_config" + b"\0" * 64)
    assert scan_file(unreadable).verdict == "inconclusive"

"""The deep scanner (`ptmlock.supply.pickles`): every battery payload really runs when loaded and is
flagged; real checkpoints are not; the machine, the allow-list and the formats fail closed."""
from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import struct
import time
import zipfile

import pickle_battery as battery
import pytest

from ptmlock.supply.pickles import classify, scan_file, scan_pickle_bytes
from ptmlock.supply.pickles.allowlist import is_safe


@pytest.fixture(scope="module")
def malicious(tmp_path_factory):
    root = tmp_path_factory.mktemp("malicious")
    files = battery.write_malicious(root / "files", root / "markers")
    runs = battery.payloads_run(files)
    for _entry, _path, marker in files.values():
        if marker.exists():
            marker.unlink()
    return files, runs


@pytest.fixture(scope="module")
def benign(tmp_path_factory):
    root = tmp_path_factory.mktemp("benign")
    return battery.write_benign(root / "files", root)


@pytest.mark.parametrize("name", [e.name for e in battery.MALICIOUS])
def test_each_malicious_file_runs_its_payload_when_loaded_and_is_flagged(malicious, name):
    files, runs = malicious
    entry, path, marker = files[name]
    assert runs[name], f"{name}: the payload did not run under {entry.loader}; the battery entry proves nothing"
    result = scan_file(path)
    assert result.verdict in ("dangerous", "inconclusive"), (name, result)
    assert not marker.exists()  # scanning ran nothing


@pytest.mark.parametrize("name", [e.name for e in battery.BENIGN])
def test_real_checkpoints_have_no_finding(benign, name):
    result = scan_file(benign[name])
    assert result.verdict in ("clean", "not-pickle"), result
    assert result.unknown == () and result.inconclusive == ()


def test_real_checkpoints_are_read_as_pickles_where_they_are(benign):
    assert scan_file(benign["torch_legacy.bin"]).members == ("torch_legacy.bin",)
    assert scan_file(benign["torch_zip.pt"]).members == ("torch_zip.pt:state/data.pkl",)
    assert scan_file(benign["weights.npz"]).formats == ("zip", "npy", "npy", "npy")
    assert "torch._utils._rebuild_parameter" in scan_file(benign["torch_zip.pt"]).globals


# --- the allow-list is exact --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [
    ("torch._utils._rebuild_tensor_v2", "safe"),
    ("collections.OrderedDict", "safe"),
    ("numpy._core.multiarray._reconstruct", "safe"),
    # a wildcard entry used to match across dots (fnmatch's * matches '.')
    ("torch._utils:_rebuild_tensor_v2.__globals__", "dangerous"),
    ("torch._utils._rebuild_tensor_v2x", "unknown"),
    ("torch.FloatStorage.__init__", "dangerous"),
    ("builtins:exec.__call__", "dangerous"),
    ("pathlib:os.system", "dangerous"),
    ("cProfile.run", "dangerous"),
    ("_operator.methodcaller", "dangerous"),
    ("pkgutil.resolve_name", "dangerous"),
    ("numpy.load", "dangerous"),
    ("torch.hub.load", "dangerous"),
    ("<dynamic>", "dangerous"),
    ("transformers.training_args.TrainingArguments", "weights-style"),
    ("joblib.numpy_pickle.NumpyArrayWrapper", "safe"),
    ("joblib.numpy_pickle.NDArrayWrapper", "dangerous"),  # joblib's module is on the deny list
    ("numpy.random._pickle.__randomstate_ctor", "safe"),
    ("_xxsubinterpreters.run_string", "unknown"),
    ("torch.fx.graph_module.reduce_graph_module", "unknown"),
])
def test_classify_is_exact(name, kind):
    assert classify(name) == kind


def test_is_safe_needs_the_exact_pair():
    assert is_safe("torch.Size") and not is_safe("torch.Size.__new__") and not is_safe("torch.size")


# --- the machine follows the stack and the memo ----------------------------------------------------


def _globals(data: bytes) -> tuple[str, ...]:
    return scan_pickle_bytes(data).globals


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_os_system_is_named_in_every_protocol_without_running(tmp_path, protocol):
    marker = tmp_path / "ran"
    result = scan_pickle_bytes(pickle.dumps(battery.evil_object(str(marker)), protocol=protocol))
    assert result.dangerous == (f"{os.name}.system",) and result.verdict == "dangerous"
    assert not marker.exists()


@pytest.mark.parametrize(("data", "expected"), [
    # STACK_GLOBAL pops the top two values, not the last two strings pushed
    (b"\x80\x04" + battery.u("posix") + b"\x94" + battery.u("system") + b"\x94" + battery.u("collections")
     + battery.u("OrderedDict") + b"00\x93" + battery.u("id") + b"\x85R.", ("posix.system",)),
    # operands memoised with BINPUT / LONG_BINPUT and fetched back with BINGET / LONG_BINGET
    (b"\x80\x02" + battery.u("os") + b"q\x000" + battery.u("system") + b"r\x07\x00\x00\x000h\x00j\x07\x00\x00\x00\x93"
     + battery.u("id") + b"\x85R.", ("os.system",)),
    # DUP of a string: os.os
    (b"\x80\x04" + battery.u("os") + b"2\x93.", ("os.os",)),
    # a name computed at load time
    (b"\x80\x04" + battery.u("os") + b")\x93.", ("<dynamic>",)),
])
def test_stack_global_operands_come_from_the_simulated_stack(data, expected):
    assert _globals(data) == expected


def test_python2_names_are_mapped_only_below_protocol_3():
    assert _globals(b"c__builtin__\neval\n(V1\ntR.") == ("builtins.eval",)
    assert _globals(b"\x80\x03c__builtin__\neval\n(V1\ntR.") == ("__builtin__.eval",)
    assert classify("__builtin__.eval") == "dangerous"


@pytest.mark.parametrize(("data", "reason"), [
    (pickle.dumps({"a": 1}) + b"trailing", "bytes after the pickle's STOP"),
    (pickle.dumps({"a": 1}) + pickle.dumps(battery.evil_object("/x")), "bytes after the pickle's STOP"),
    (pickle.dumps({"a": list(range(50))})[:-9], "runs past the end of the stream"),
    (b"\x80\x02h\x05.", "never written"),
    (b"\x80\x02\x85.", "stack underflow"),
    (b"\x80\x04\xff.", "opcode"),
])
def test_anything_not_read_to_its_end_is_inconclusive(data, reason):
    result = scan_pickle_bytes(data)
    assert result.verdict == "inconclusive" and reason in result.inconclusive[0], result


def test_globals_before_a_break_are_still_reported():
    data = pickle.dumps(battery.evil_object("/x"), protocol=2)[:-1] + b"\xff"
    result = scan_pickle_bytes(data)
    assert result.dangerous == (f"{os.name}.system",) and result.inconclusive


def test_forged_lengths_fail_fast(tmp_path):
    forged = tmp_path / "forged.bin"
    forged.write_bytes(b"\x80\x04\x8e" + (2**62).to_bytes(8, "little") + b"x")  # BINBYTES8 of 4 EiB
    start = time.monotonic()
    result = scan_file(forged)
    assert result.verdict == "inconclusive" and "past the end" in result.inconclusive[0]
    assert time.monotonic() - start < 1


def test_raw_bytes_are_no_pickle_and_protocol_0_needs_a_pickle_name(tmp_path):
    (tmp_path / "raw.bin").write_bytes(b"\xd0" + os.urandom(4096))
    assert scan_file(tmp_path / "raw.bin").verdict == "not-pickle"
    (tmp_path / "notes.txt").write_bytes(b"cat\nsits\n")
    assert scan_file(tmp_path / "notes.txt").verdict == "not-pickle"
    (tmp_path / "notes.pkl").write_bytes(b"cat\nsits\n")
    named = scan_file(tmp_path / "notes.pkl")  # imports "at.sits" (outside the allow-list), then breaks
    assert named.verdict == "dangerous" and named.unlisted == ("at.sits",) and named.inconclusive


# --- formats, decided by the first bytes ------------------------------------------------------------


def test_every_pickle_member_of_a_zip_is_read(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(battery.torch_zip(pickle.dumps({}, protocol=2),
                                       extra={"extra.pkl": pickle.dumps(battery.evil_object("/x"), protocol=2),
                                              "data/0": b"\x80\x02" + os.urandom(64)}))
    result = scan_file(path)
    assert result.dangerous == (f"{os.name}.system",)
    assert result.members == ("model.pt:archive/data.pkl", "model.pt:archive/extra.pkl")


def test_a_zip_member_named_like_a_pickle_that_is_not_one_is_inconclusive(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(battery.torch_zip(b"not a pickle"))
    assert scan_file(path).verdict == "inconclusive"


def test_torch_legacy_reads_all_five_pickles(benign, tmp_path):
    data = benign["torch_legacy.bin"].read_bytes()
    evil = pickle.dumps(battery.evil_object("/x"), protocol=2)
    # the fifth pickle (storage keys) replaced by the payload: still read
    head = io.BytesIO(data)
    for _ in range(4):
        for _op in pickletools.genops(head):
            pass
    tampered = data[:head.tell()] + evil
    result = scan_pickle_bytes(tampered, "legacy.bin")
    assert result.dangerous == (f"{os.name}.system",)
    short = scan_pickle_bytes(data[:head.tell()], "legacy.bin")
    assert short.verdict == "inconclusive" and "ends after 4 of its 5 pickles" in short.inconclusive[0]


@pytest.mark.parametrize("kind", ["gzip", "bz2", "xz"])
def test_compressed_pickles_are_inflated_and_read(kind):
    data = battery.compress(kind, pickle.dumps(battery.evil_object("/x")))
    result = scan_pickle_bytes(data, "weights.bin")
    assert result.formats[0] == kind and result.verdict == "dangerous"


def test_unknown_compression_and_truncated_streams_are_inconclusive():
    lz4 = scan_pickle_bytes(b"\x04\x22\x4d\x18" + os.urandom(64), "model.joblib")
    assert lz4.verdict == "inconclusive" and "lz4-compressed" in lz4.inconclusive[0]
    cut = battery.compress("gzip", pickle.dumps(list(range(1000))))[:-20]
    assert scan_pickle_bytes(cut, "model.pkl").verdict == "inconclusive"


def test_safetensors_header_is_checked(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    good = tmp_path / "model.safetensors"
    good.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 8)
    assert scan_file(good).verdict == "not-pickle" and scan_file(good).formats == ("safetensors",)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 4)  # data shorter than the offsets
    result = scan_file(bad)
    (flag,) = result.flags
    assert result.verdict == "dangerous" and flag[0] == "safetensors-invalid"
    assert "tensor 'w' has no valid data_offsets" in flag[1]


def test_npy_without_objects_holds_no_pickle_and_with_objects_is_read(tmp_path):
    np = pytest.importorskip("numpy")
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    result = scan_pickle_bytes(buf.getvalue(), "x.npy")
    assert result.verdict == "clean" and result.members == ("x.npy (object array)",)


def test_zip_read_by_its_first_bytes_not_its_end(tmp_path):
    # a zip with a pickle prepended is a pickle to torch.load (zip by its end, pickle by its start)
    data = pickle.dumps({"ok": 1}, protocol=2) + battery.torch_zip(pickle.dumps({}, protocol=2))
    assert zipfile.is_zipfile(io.BytesIO(data))
    result = scan_pickle_bytes(data, "model.pt")
    assert result.formats == ("pickle",) and result.verdict == "inconclusive"


def test_a_fifo_or_device_is_inconclusive_without_blocking(tmp_path):
    fifo = tmp_path / "pytorch_model.bin"
    os.mkfifo(fifo)
    start = time.monotonic()
    result = scan_file(fifo)
    assert result.verdict == "inconclusive" and result.inconclusive == ("pytorch_model.bin: not a regular file",)
    assert scan_file("/dev/zero").verdict == "inconclusive"
    assert time.monotonic() - start < 1


def test_protocol_0_with_any_name_counts_only_when_it_reads_or_calls(tmp_path):
    calls = tmp_path / "model.weights"
    calls.write_bytes(b"cos\nsystem\n(Vid\ntR\xff")  # broken after the call: the payload ran
    assert scan_file(calls).verdict == "dangerous"
    whole = tmp_path / "state.weights"
    whole.write_bytes(pickle.dumps({"a": 1}, protocol=0))
    assert scan_file(whole).verdict == "clean"
    text = tmp_path / "vocab.txt"
    text.write_bytes(b"collections\nOrderedDict\nthe\na\n")  # a GLOBAL by accident, then no call
    assert scan_file(text).verdict == "not-pickle"
    # raw weights that happen to start with an opcode letter: GGML's legacy .bin magic ("lmgg")
    ggml = tmp_path / "ggml-model.bin"
    ggml.write_bytes(b"lmgg" + os.urandom(4096))
    assert scan_file(ggml).verdict == "not-pickle"
    # the scanner's own line bound is inconclusive under any name
    long_line = tmp_path / "model.weights"
    long_line.write_bytes(b"V" + b"a" * 70_000 + b"\n.")
    assert scan_file(long_line).verdict == "inconclusive"


def test_globals_outside_the_allow_list_are_as_severe_as_dangerous_ones():
    data = battery.call2("_xxsubinterpreters", "run_string", "1", "pass")
    result = scan_pickle_bytes(data)
    assert result.verdict == "dangerous" and result.unlisted == ("_xxsubinterpreters.run_string",)
    assert result.dangerous == () and result.unknown == ()
    weights_style = scan_pickle_bytes(b"\x80\x02" + battery.glob0("argparse", "Namespace") + b")\x81.")
    assert weights_style.verdict == "unknown-global" and weights_style.unknown == ("argparse.Namespace",)


def test_joblib_arrays_are_followed_and_a_wrapper_built_otherwise_is_not_trusted():
    np = pytest.importorskip("numpy")
    joblib = pytest.importorskip("joblib")
    buf = io.BytesIO()
    joblib.dump({"a": np.arange(6.0), "o": np.array([battery.evil_object("/x")], dtype=object)}, buf)
    result = scan_pickle_bytes(buf.getvalue(), "m.joblib")  # the object array is a nested pickle
    assert result.dangerous == (f"{os.name}.system",), result
    forged = b"\x80\x02" + battery.glob0("joblib.numpy_pickle", "NumpyArrayWrapper") + b"(tR}b."
    assert scan_pickle_bytes(forged, "m.joblib").verdict == "inconclusive"

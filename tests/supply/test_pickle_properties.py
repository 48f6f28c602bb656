"""The deep scanner fails closed (issue 23): what the real unpickler reads, the scanner reads;
random and mutated bytes never crash it, and a loadable pickle is never called data."""
from __future__ import annotations

import io
import pickle

import pickle_battery as battery
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptmlock.supply.pickles import scan_file, scan_pickle_bytes


class _Stub:
    """What the harmless unpickler returns for every global: accepts any call and any state."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass

    def append(self, item: object) -> None:
        pass

    def extend(self, items: object) -> None:
        pass


class _Harmless(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        return _Stub


def _loads(data: bytes) -> bool:
    """True when CPython's C unpickler reads `data` to its STOP (importing nothing)."""
    try:
        _Harmless(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 -- any refusal means the loader ran nothing past it
        return False
    return True


_SAMPLES = [pickle.dumps(obj, protocol=p) for p in range(6) for obj in (
    {"a": [1, 2.5, "x", b"y", None, True]}, (1, (2, 3), {4}), list(range(300)), battery.evil_object("/x"),
    {"nested": {"k": ("v", 10**30, -1)}},
)]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SAMPLES)))
    if draw(st.booleans()) and data[:1] == b"\x80":
        del data[:2]  # no PROTO header: the unpickler does not need one
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(("flip", "insert", "delete", "cut")))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete" and data:
            del data[at]
        elif action == "cut":
            del data[at:]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), _mutated()))
def test_random_and_mutated_bytes_never_crash_and_loadable_pickles_are_never_data(data):
    for name in ("data.pkl", "notes.txt"):
        result = scan_pickle_bytes(data, name)  # never raises
        assert result.verdict in ("dangerous", "inconclusive", "unknown-global", "clean", "not-pickle")
        if _loads(data):
            assert result.verdict != "not-pickle", (data, result)


@pytest.mark.parametrize(("data", "verdict"), [
    (b"I0x10\n.", "clean"),  # strtol base 0: pickletools.genops rejects these, the C unpickler reads them
    (b"I017\n.", "clean"),
    (b"I12\x00junk\n.", "clean"),
    (b"L0x10L\n.", "clean"),
    (b"F1.5\x00junk\n.", "clean"),
    (b"\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.", "dangerous"),  # protocol 4 opcodes, no PROTO
    (b"I0x1\n0cos\nsystem\n(S'id'\ntR.", "dangerous"),
    (b"\x80\x02K\x01K\x02.", "clean"),  # values left on the stack: the unpickler returns the top one
    (b"I1\n.trailing text", "inconclusive"),  # pickle.load reads it; what follows is not read
])
def test_what_the_c_unpickler_reads_is_read(data, verdict):
    assert _loads(data.replace(b"os\n", b"xx\n").replace(b"os\x8c", b"xx\x8c")) or verdict == "dangerous"
    for name in ("model.bin", "weights.anything"):
        assert scan_pickle_bytes(data, name).verdict == verdict, name


def test_a_pickle_without_header_and_binary_first_opcode_is_read_under_any_name(tmp_path):
    path = tmp_path / "model.weights"
    path.write_bytes(pickle.dumps(battery.evil_object("/x"), protocol=4)[2:])
    assert scan_file(path).verdict == "dangerous"


def test_a_malformed_npy_header_is_inconclusive_not_a_crash(tmp_path):
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), " + b"(" * 3 + b"\n"
    path = tmp_path / "arr.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x80\x02N.")
    result = scan_file(path)
    assert result.verdict == "inconclusive" and "header numpy cannot parse" in result.inconclusive[0], result


@pytest.mark.parametrize("descr", ["'object'", "'O8'", "'|O'", "[('a', '<f4'), ('b', 'O')]", "('O', (2,))"])
def test_npy_dtype_spellings_holding_objects_are_read_as_pickles(descr):
    header = ("{'descr': %s, 'fortran_order': False, 'shape': (1L,), }" % descr).encode()  # a Python 2 header
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    data += pickle.dumps(battery.evil_object("/x"), protocol=2)
    assert scan_pickle_bytes(data, "x.npy").verdict == "dangerous"

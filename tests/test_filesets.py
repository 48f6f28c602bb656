"""One file selection and one pickle-only rule: what `sync` fetches is what `audit` judges and
what the lock's `pickle-only` fact describes (issue 10, item 5)."""
from __future__ import annotations

import pytest

from ptmlock.filesets import matches, pickle_only
from ptmlock.install.hf_cache import plan_files
from ptmlock.lockfile.model import LockedFile, LockedModel
from ptmlock.supply.audit import fetched_files
from ptmlock.supply.audit import pickle_only as audit_pickle_only

C = "a" * 40
FILES = ("README.md", "Model.BIN", "model.safetensors", "onnx/model.onnx", "weights/pytorch_model.bin",
         "weights/sub/extra.pt", "tokenizer.json")


def _model(include: tuple[str, ...]) -> LockedModel:
    return LockedModel(id="org/m", commit=C, include=include,
                       files=tuple(LockedFile(path=p, size=1, blob_id="b" * 40) for p in FILES))


@pytest.mark.parametrize("include", [(), ("*.bin",), ("*.BIN",), ("weights/",), ("weights/*",), ("*.json", "onnx/*"),
                                     ("[Mm]odel.*",), ("weights/**",)])
def test_sync_fetches_exactly_the_files_audit_judges(include, tmp_path):
    model = _model(include)
    synced = sorted(t.file.path for t in plan_files([model], cache_dir=tmp_path).tasks)
    assert synced == sorted(f.path for f in fetched_files(model))
    assert synced == sorted(p for p in FILES if matches(p, include))


@pytest.mark.parametrize(("include", "expected"), [
    ((), False),                    # safetensors beside the pickles
    (("weights/",), True),          # only the pickles are fetched
    (("*.bin",), True),             # fnmatchcase: Model.BIN is not selected, weights/pytorch_model.bin is
    (("*.BIN",), True),
    (("*.json",), False),           # no weights at all
    (("onnx/*", "*.bin"), False),   # a safe format is fetched too
])
def test_pickle_only_is_one_rule_over_the_fetched_files(include, expected):
    model = _model(include)
    assert model.pickle_only is expected
    assert audit_pickle_only(model) is expected
    assert pickle_only(f.path for f in fetched_files(model)) is expected


def test_matching_is_case_sensitive_and_a_trailing_slash_means_below():
    assert matches("Model.BIN", ("*.BIN",)) and not matches("Model.BIN", ("*.bin",))
    assert matches("weights/sub/extra.pt", ("weights/",)) and not matches("weightsx/a", ("weights/",))

"""The pre-filter may only skip files the analyzer would find nothing in: checked on the real
surface, every Python file of installed ML libraries (and the hand-written corpus), analysed
with no pre-filter at all. A file the pre-filter drops must give no finding and no wrapper."""
from __future__ import annotations

import ast
import importlib.util
import warnings
from pathlib import Path

import pytest

from ptmlock.scan.analyze import analyze_module
from ptmlock.scan.prefilter import code_bytes_test, may_contain_load, quick_bytes_test
from ptmlock.scan.scanner import decode_source, iter_python_files

# the smaller libraries of the loader table (transformers alone would take a minute to parse whole)
_LIBRARIES = ("timm", "open_clip", "sentence_transformers", "peft", "torchvision", "huggingface_hub")
_CORPUS = Path(__file__).resolve().parents[1] / "data" / "scan_corpus"


def _roots() -> list[str]:
    found = [importlib.util.find_spec(n) for n in _LIBRARIES]
    return [list(s.submodule_search_locations)[0] for s in found if s and s.submodule_search_locations] + [str(_CORPUS)]


def test_every_file_the_prefilter_drops_holds_no_load() -> None:
    files = iter_python_files(_roots())
    if len(files) < 500:
        pytest.skip(f"too few installed library files to judge the pre-filter ({len(files)})")
    dropped = 0
    for path in files:
        data = Path(path).read_bytes()
        rule = quick_bytes_test(data)
        on_bytes = rule >= 0 and code_bytes_test(data, rule)
        text = decode_source(data)
        if on_bytes:
            continue
        assert not may_contain_load(text), path  # the pre-filter on text (scan_source) drops it too
        dropped += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        findings, wrappers = analyze_module(tree, text, path)
        assert not findings and not wrappers, (path, findings[:3], wrappers[:3])
    assert dropped > len(files) // 2  # the pre-filter does drop most files (else this proves nothing)


@pytest.mark.parametrize("src", [
    "from sentence_transformers import SentenceTransformer\nm = SentenceTransformer('org/a')\n",
    "from sentence_transformers import SentenceTransformer as ST\nm = ST('org/a')\n",
    "from sentence_transformers import SentenceTransformer\nModel = SentenceTransformer\nm = Model('org/a')\n",
    "import sentence_transformers as st\nModel = st.SentenceTransformer\nm = Model('org/a')\n",
    "from transformers import pipeline as make\nclf = make('text-classification', model='org/a')\n",
])
def test_every_spelling_of_a_loader_the_analyzer_follows_passes_the_prefilter(src: str) -> None:
    from ptmlock.scan.scanner import scan_source

    assert may_contain_load(src)
    assert [f.model_ids for f in scan_source("m.py", src)] == [("org/a",)]


def test_a_loader_class_named_only_in_annotations_is_filtered() -> None:
    src = ("from sentence_transformers import SentenceTransformer\n\n"
           "def encode(model: SentenceTransformer, texts: list[str]):\n"
           "    assert isinstance(model, SentenceTransformer)\n    return model.encode(texts)\n")
    assert not may_contain_load(src)

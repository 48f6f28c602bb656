"""A loader wrapped in a project function and called from other modules: the ids at the callers
are reported, cold and from the cache, through the real CLI."""
from __future__ import annotations

import json
import textwrap

import pytest

MODELS = textwrap.dedent("""\
    from transformers import AutoModel
    from sentence_transformers import SentenceTransformer

    def load_encoder(name, revision=None):
        return AutoModel.from_pretrained(name, revision=revision)

    def embedder(*, model_name):
        return SentenceTransformer(model_name)

    local = load_encoder("org/same-file")
    """)
MAIN = textwrap.dedent("""\
    from pkg.models import load_encoder, embedder
    from pkg import models as m
    ENC = "org/encoder"
    a = load_encoder(ENC)
    b = embedder(model_name="all-MiniLM-L6-v2")
    c = m.load_encoder("bert-base-uncased")
    d = load_encoder(input())
    e = load_encoder("org/quiet")  # ptmlock: ignore
    """)
REL = 'from .models import load_encoder\nx = load_encoder("org/relative")\n'
OTHER = 'def load_encoder(name):\n    return name\nfrom other import load_encoder\ny = load_encoder("org/not-ours")\n'


@pytest.fixture
def tree(project):
    for name, text in {"src/pkg/models.py": MODELS, "app/main.py": MAIN, "src/pkg/rel.py": REL,
                       "tools/other.py": OTHER}.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    return project


@pytest.mark.parametrize("cache", ["--no-cache", "warm"])
def test_wrapper_calls_in_other_modules_report_the_callers_ids(tree, ptm, cache):
    if cache == "warm":
        assert ptm("scan", "--json", ".").code == 0  # fill the cache
    r = ptm("scan", "--json", *(["--no-cache"] if cache == "--no-cache" else []), ".")
    assert r.code == 0, r.err
    got = sorted((f["path"], f["line"], tuple(f["model_ids"] or ()), f["loader"], f["ignored"])
                 for f in json.loads(r.out)["findings"])
    assert got == [
        ("app/main.py", 4, ("org/encoder",), "pkg.models.load_encoder", False),
        ("app/main.py", 5, ("sentence-transformers/all-MiniLM-L6-v2",), "pkg.models.embedder", False),
        ("app/main.py", 6, ("google-bert/bert-base-uncased",), "pkg.models.load_encoder", False),
        ("app/main.py", 8, ("org/quiet",), "pkg.models.load_encoder", True),
        ("src/pkg/models.py", 5, ("org/same-file",), "transformers.AutoModel.from_pretrained", False),
        ("src/pkg/models.py", 8, (), "sentence_transformers.SentenceTransformer", False),
        ("src/pkg/rel.py", 2, ("org/relative",), "pkg.models.load_encoder", False),
    ]


def test_check_fails_on_an_undeclared_id_passed_to_a_wrapper(tree, ptm):
    from lockhelpers import write_manifest

    write_manifest(tree, {})
    r = ptm("check", "app/main.py")
    assert r.code == 1
    assert "app/main.py:4:5: PTM002 'org/encoder' is loaded here (pkg.models.load_encoder)" in r.out


def test_a_warm_scan_answers_wrapper_calls_from_the_cache_and_sees_a_changed_wrapper(tree, tmp_path):
    from ptmlock.scan.scanner import ScanStats, scan_paths

    cache = str(tmp_path / "wrap-cache")
    first = scan_paths(["."], cache_dir=cache)
    stats = ScanStats()
    again = scan_paths(["."], cache_dir=cache, stats=stats)
    assert again == first and stats.parsed == 0
    # the wrapper's parameter no longer reaches the loader: its callers report nothing any more
    models = tree / "src/pkg/models.py"
    models.write_text(models.read_text().replace("AutoModel.from_pretrained(name,", 'AutoModel.from_pretrained("org/fixed",'))
    changed = scan_paths(["."], cache_dir=cache)
    assert ("org/encoder",) in {f.model_ids for f in first}
    assert ("org/encoder",) not in {f.model_ids for f in changed}
    assert ("org/fixed",) in {f.model_ids for f in changed}

"""ptmlock.scan.scanner: exact findings on a hand-written corpus, accuracy against ground truth and a
grep baseline, and scan_paths' walking, pre-filter, parallelism, cache and odd files."""
from __future__ import annotations

import gc
import json
import multiprocessing
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ptmlock.scan import pool as pool_module
from ptmlock.scan import scanner as scan_module
from ptmlock.scan.scanner import Finding, ScanStats, iter_python_files, scan_paths, scan_source

CORPUS = Path(__file__).resolve().parents[1] / "data" / "scan_corpus"


@pytest.fixture(autouse=True)
def _isolated_user_cache(monkeypatch, tmp_path):
    # scan_paths' default cache must never be the real user cache dir in tests
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda app: str(tmp_path / "user-cache" / app))
CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.py"))

# --- the markers -----------------------------------------------------------------------------

_MARKER = re.compile(r"#\s*(expect|fp):\s*(.*?)(?=\s*#\s*(?:expect|fp):|$)")
_URL_LOADERS = {
    "torch.hub.load_state_dict_from_url", "torch.utils.model_zoo.load_url", "torch.hub.download_url_to_file",
}


@dataclass
class Marker:
    kind: str  # "expect" (a real load) or "fp" (a known false positive)
    line: int
    loader: str
    ids: tuple[str, ...] | None = None
    revision: str | None = None
    library: str | None = None
    hub: str | None = None
    repo_type: str = "model"
    ignored: bool = False
    missed: bool = False
    scan: dict[str, str] = field(default_factory=dict)

    def finalize(self) -> Marker:
        if self.library is None:
            top = self.loader.split(".")[0]
            self.library = ("torch.hub" if self.loader == "torch.hub.load" else
                            "url" if self.loader in _URL_LOADERS else top)
        if self.hub is None:
            ids = self.ids or ()
            self.hub = ("torchhub" if self.library == "torch.hub" else
                        "url" if self.library in ("url", "torchvision") or any(i.startswith("open_clip:") for i in ids)
                        else "huggingface")
        return self

    def truth(self) -> dict[str, object]:
        return {"line": self.line, "loader": self.loader, "library": self.library, "model_ids": self.ids,
                "revision": self.revision, "hub": self.hub, "repo_type": self.repo_type, "ignored": self.ignored}

    def scanned(self) -> dict[str, object]:
        """What the scanner is expected to report today (truth with known deviations applied)."""
        out = self.truth()
        if "ids" in self.scan:
            out["model_ids"] = _ids(self.scan["ids"])
        if "rev" in self.scan:
            out["revision"] = None if self.scan["rev"] == "none" else self.scan["rev"]
        if "loader" in self.scan:
            out["loader"] = self.scan["loader"]
        return out


def _ids(text: str) -> tuple[str, ...] | None:
    return None if text == "?" else tuple(text.split(","))


def parse_markers(text: str) -> list[Marker]:
    markers = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for kind, body in _MARKER.findall(line):
            loader, *fields = body.split()
            m = Marker(kind, lineno, loader)
            for f in fields:
                key, _, value = f.partition("=")
                if key == "ids":
                    m.ids = _ids(value)
                elif key == "rev":
                    m.revision = value
                elif key == "lib":
                    m.library = value
                elif key == "hub":
                    m.hub = value
                elif key == "type":
                    m.repo_type = value
                elif key == "ignored":
                    m.ignored = True
                elif key == "missed":
                    m.missed = True
                elif key.startswith("scan-"):
                    m.scan[key[5:]] = value
                else:
                    raise ValueError(f"line {lineno}: unknown marker field {f!r}")
            markers.append(m.finalize())
    return markers


def _finding_dict(f: Finding) -> dict[str, object]:
    d = f.to_dict()
    d.pop("path")
    d.pop("col")
    assert d.pop("cell") is None  # only notebook findings have a cell
    return d


def _key(d: dict[str, object]) -> str:
    # model_ids is an alternatives group: compared as a set (the scanner's order is tested elsewhere)
    ids = d["model_ids"]
    return json.dumps({**d, "model_ids": None if ids is None else sorted(ids)}, sort_keys=True)


# --- exact findings, file by file --------------------------------------------------------------

@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file_gives_exactly_the_marked_findings(name):
    text = (CORPUS / name).read_text(encoding="utf-8")
    markers = parse_markers(text)
    expected = sorted(_key(m.scanned()) for m in markers if not m.missed)
    found = sorted(_key(_finding_dict(f)) for f in scan_source(name, text))
    assert {"missing": sorted(set(expected) - set(found)), "unexpected": sorted(set(found) - set(expected))} \
        == {"missing": [], "unexpected": []}
    assert found == expected  # and no duplicates


def test_corpus_covers_every_library_and_the_traps():
    markers = [m for name in CORPUS_FILES for m in parse_markers((CORPUS / name).read_text(encoding="utf-8"))]
    libraries = {m.library for m in markers if m.kind == "expect"}
    assert libraries >= {"transformers", "diffusers", "sentence_transformers", "huggingface_hub", "timm",
                         "open_clip", "peft", "torchvision", "torch.hub", "url"}
    assert len([m for m in markers if m.kind == "expect"]) >= 150
    assert "traps.py" in CORPUS_FILES
    # corpus files are data: pytest must never collect one as a test module
    assert not [n for n in CORPUS_FILES if n.startswith("test_") or n.endswith("_test.py")]


# --- accuracy over the whole corpus, and the grep baseline ------------------------------------

_GREP = re.compile(
    r"from_pretrained|from_single_file|load_lora_weights|pipeline\(|hf_hub_download|snapshot_download"
    r"|SentenceTransformer\(|CrossEncoder\(|create_model|hub\.load|load_url|load_state_dict_from_url"
    r"|pretrained=True|weights=")
_STRING = re.compile(r"""["']([^"'\s]+)["']""")


def _strip_markers(line: str) -> str:
    return re.sub(r"\s*#\s*(?:expect|fp):.*$", "", line)


def corpus_metrics() -> dict[str, dict[str, float]]:
    """Recall/precision of sites and ids for the scanner and for a naive line grep."""
    tallies = {who: {"sites": 0, "sites_found": 0, "reported_sites": 0, "true_reported": 0,
                     "ids": 0, "ids_found": 0, "reported_ids": 0, "true_ids": 0}
               for who in ("scan", "grep")}
    for name in CORPUS_FILES:
        text = (CORPUS / name).read_text(encoding="utf-8")
        truth = {m.line: m for m in parse_markers(text) if m.kind == "expect"}
        scanned: dict[int, set[str]] = {}
        for f in scan_source(name, text):
            scanned.setdefault(f.line, set()).update(f.model_ids or ())
        grepped: dict[int, set[str]] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            code = _strip_markers(line)
            if _GREP.search(code) and not code.lstrip().startswith("#"):
                grepped[lineno] = set(_STRING.findall(code))
        for who, found in (("scan", scanned), ("grep", grepped)):
            t = tallies[who]
            t["sites"] += len(truth)
            t["sites_found"] += len(truth.keys() & found.keys())
            t["reported_sites"] += len(found)
            t["true_reported"] += len(found.keys() & truth.keys())
            for line, m in truth.items():
                ids = set(m.ids or ())
                t["ids"] += len(ids)
                t["ids_found"] += len(ids & found.get(line, set()))
            for line, ids in found.items():
                t["reported_ids"] += len(ids)
                t["true_ids"] += len(ids & set(truth[line].ids or ()) if line in truth else set())
    return {who: {"site_recall": t["sites_found"] / t["sites"],
                  "site_precision": t["true_reported"] / max(t["reported_sites"], 1),
                  "id_recall": t["ids_found"] / t["ids"],
                  "id_precision": t["true_ids"] / max(t["reported_ids"], 1),
                  "sites": t["sites"], "ids": t["ids"]}
            for who, t in tallies.items()}


def test_scanner_accuracy_on_the_corpus_beats_the_thresholds_and_grep():
    m = corpus_metrics()
    print(json.dumps(m, indent=2))  # -s shows the table quoted in docs/scan.md
    scan, grep = m["scan"], m["grep"]
    assert scan["site_recall"] >= 0.95
    assert scan["id_recall"] >= 0.90
    assert scan["id_precision"] >= 0.95
    assert scan["site_precision"] >= 0.95
    assert scan["id_recall"] > grep["id_recall"] and scan["id_precision"] > grep["id_precision"]
    assert scan["site_precision"] > grep["site_precision"]


# --- scan_source: the odd cases ----------------------------------------------------------------

LOAD = 'from transformers import AutoModel\nm = AutoModel.from_pretrained("google-bert/bert-base-uncased")\n'


def test_finding_json_shape_is_stable():
    (f,) = scan_source("app/main.py", LOAD)
    assert f.to_dict() == {
        "path": "app/main.py", "line": 2, "col": 5, "loader": "transformers.AutoModel.from_pretrained",
        "library": "transformers", "model_ids": ["google-bert/bert-base-uncased"], "revision": None,
        "hub": "huggingface", "repo_type": "model", "ignored": False, "cell": None,
    }
    assert Finding.from_dict(json.loads(json.dumps(f.to_dict()))) == f


def test_finding_from_dict_rejects_a_malformed_dict():
    with pytest.raises(ValueError, match="not a scan finding"):
        Finding.from_dict({"path": "x.py", "line": "2"})


def test_syntax_error_gives_no_findings_and_raises_nothing():
    assert scan_source("broken.py", LOAD + "def f(:\n") == []
    assert scan_source("nul.py", LOAD + "\x00") == []
    assert scan_source("deep.py", LOAD + "x = " + "(" * 5000 + ")" * 5000 + "\n") == []


def test_columns_are_one_based_characters_not_utf8_bytes():
    text = 'from transformers import AutoModel\nné = 1; m = AutoModel.from_pretrained("gpt2")\n'
    (f,) = scan_source("x.py", text)
    assert (f.line, f.col) == (2, 13)


def test_alternatives_keep_the_order_the_code_names_them():
    text = ('import argparse\nfrom transformers import AutoModel\np = argparse.ArgumentParser()\n'
            'p.add_argument("--model", default="b-org/b", choices=["a-org/a", "b-org/b", "c-org/c"])\n'
            'args = p.parse_args()\nAutoModel.from_pretrained(args.model)\n')
    (f,) = scan_source("x.py", text)
    assert f.model_ids == ("b-org/b", "a-org/a", "c-org/c")


def test_multi_line_call_is_ignored_by_a_marker_on_any_of_its_lines():
    text = 'from transformers import AutoModel\nAutoModel.from_pretrained(\n    "gpt2",  # ptmlock: ignore\n)\n'
    (f,) = scan_source("x.py", text)
    assert f.ignored and f.line == 2


def test_scan_source_does_no_io(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("scan_source opened a file")

    monkeypatch.setattr("builtins.open", refuse)
    monkeypatch.setattr(os, "stat", refuse)
    assert len(scan_source("x.py", LOAD)) == 1


@pytest.mark.parametrize("text", [
    "import os\nprint(os.getcwd())\n",
    '"""Use AutoModel.from_pretrained("gpt2")."""\nimport os\n# hf_hub_download(...)\nx = "pipeline(model=1)"\n',
])
def test_prefilter_leaves_files_without_loader_code_unparsed(tmp_path, text):
    (tmp_path / "a.py").write_text(text)
    stats = ScanStats()
    assert scan_paths([tmp_path], use_cache=False, stats=stats) == []
    assert (stats.files, stats.filtered, stats.parsed) == (1, 1, 0)


# --- scan_paths: files on disk -----------------------------------------------------------------

def test_non_utf8_sources_are_decoded_by_their_cookie_or_leniently(tmp_path):
    (tmp_path / "latin1.py").write_bytes(
        b"# -*- coding: latin-1 -*-\n# r\xe9sum\xe9\nfrom transformers import AutoModel\n"
        b"m = AutoModel.from_pretrained('gpt2')  # caf\xe9\n")
    (tmp_path / "nocookie.py").write_bytes(
        b"from transformers import AutoModel\nx = '\xff\xfe'\nm = AutoModel.from_pretrained('distilgpt2')\n")
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf" + LOAD.encode())
    stats = ScanStats()
    found = scan_paths([tmp_path], use_cache=False, stats=stats)
    assert [(Path(f.path).name, f.line, f.col, f.model_ids) for f in found] == [
        ("bom.py", 2, 5, ("google-bert/bert-base-uncased",)),
        ("latin1.py", 4, 5, ("openai-community/gpt2",)),
        ("nocookie.py", 3, 5, ("distilbert/distilgpt2",)),
    ]
    assert stats.syntax_errors == 0


def test_syntax_errors_are_counted_and_skipped(tmp_path):
    (tmp_path / "ok.py").write_text(LOAD)
    (tmp_path / "broken.py").write_text(LOAD + "def f(:\n")
    stats = ScanStats()
    found = scan_paths([tmp_path], use_cache=False, stats=stats)
    assert [Path(f.path).name for f in found] == ["ok.py"]
    assert (stats.parsed, stats.syntax_errors) == (2, 1)


def test_walk_skips_vcs_caches_and_virtualenvs_unless_given(tmp_path, monkeypatch):
    for rel in ("src/app.py", ".git/hook.py", "node_modules/x/y.py", "build/__pycache__/z.py",
                "lib/site-packages/pkg/m.py", "myenv/lib/w.py", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(LOAD)
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "script").write_text(LOAD)
    monkeypatch.chdir(tmp_path)
    assert iter_python_files(["."]) == [os.path.join("src", "app.py")]
    assert iter_python_files(["myenv", "script", "src/app.py"]) == [
        os.path.join("myenv", "lib", "w.py"), "script", os.path.join("src", "app.py")]
    with pytest.raises(FileNotFoundError):
        iter_python_files(["missing"])


@pytest.fixture
def corpus_tree(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(CORPUS, tree / "corpus")
    shutil.copytree(CORPUS, tree / "copy")  # enough files to use the process pool
    return tree


def test_parallel_scan_equals_sequential_scan_and_scan_source(corpus_tree):
    stats = ScanStats()
    parallel = scan_paths([corpus_tree], jobs=2, use_cache=False, stats=stats)
    sequential = scan_paths([corpus_tree], jobs=1, use_cache=False)
    assert stats.workers == 2
    assert parallel == sequential
    by_file = [f for p in iter_python_files([corpus_tree])
               for f in scan_source(p, Path(p).read_text(encoding="utf-8"))]
    assert parallel == sorted(by_file, key=Finding.sort_key)
    assert len(parallel) > 250


def test_a_scan_makes_no_reference_cycles(corpus_tree):
    """Scan workers run without the cyclic garbage collector (its passes over the indices they
    keep cost more than the parsing): what a scan makes must be freed by reference counts alone."""
    gc.collect()
    gc.disable()
    try:
        found = scan_paths([corpus_tree], jobs=1, use_cache=False)
        left = gc.collect()
    finally:
        gc.enable()
    assert len(found) > 250
    assert left == 0, f"{left} objects in reference cycles"


def test_a_pool_that_cannot_start_falls_back_to_scanning_in_process(corpus_tree, monkeypatch):
    class NoProcesses:  # a sandbox where fork fails (EAGAIN) or pipes cannot be made
        def Pipe(self):
            raise OSError(11, "Resource temporarily unavailable")

    sequential = scan_paths([corpus_tree], jobs=1, use_cache=False)
    monkeypatch.setattr(pool_module.multiprocessing, "get_context", lambda *a: NoProcesses())
    stats = ScanStats()
    assert scan_paths([corpus_tree], jobs=2, use_cache=False, stats=stats) == sequential
    assert stats.workers == 1


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="workers inherit the patch by fork")
def test_a_worker_that_dies_mid_scan_leaves_its_work_to_the_scan(corpus_tree, monkeypatch):
    sequential = scan_paths([corpus_tree], jobs=1, use_cache=False)
    real = scan_module.decode_source

    def dies_in_a_worker(data):  # killed (the OOM killer, a signal) while reading one file
        if b"AutoModel" in data and pool_module.in_worker():
            os._exit(9)
        return real(data)

    monkeypatch.setattr(scan_module, "decode_source", dies_in_a_worker)
    assert scan_paths([corpus_tree], jobs=2, use_cache=False) == sequential


def test_second_scan_is_answered_from_the_cache_and_parses_nothing(corpus_tree, tmp_path):
    cache = str(tmp_path / "cache")
    first, second = ScanStats(), ScanStats()
    found = scan_paths([corpus_tree], jobs=2, cache_dir=cache, stats=first)
    assert first.parsed > 0 and first.cache_hits == 0
    again = scan_paths([corpus_tree], jobs=2, cache_dir=cache, stats=second)
    assert again == found
    assert second.parsed == 0 and second.cache_hits == first.parsed + first.filtered - second.filtered
    assert not [p for p in Path(cache).rglob("*") if p.name.endswith(".tmp")]  # atomic writes leave nothing

    # one edited file is parsed again; the other cached entries still answer
    target = corpus_tree / "corpus" / "aliases.py"
    target.write_text(target.read_text() + "\n# edited\n")
    third = ScanStats()
    scan_paths([corpus_tree], cache_dir=cache, stats=third)
    assert third.parsed == 1


def test_a_damaged_cache_is_rebuilt_not_trusted(corpus_tree, tmp_path):
    cache = tmp_path / "cache"
    found = scan_paths([corpus_tree], cache_dir=str(cache))
    for shard in cache.rglob("shard-*.json"):
        shard.write_text('{"not": "findings"')
    stats = ScanStats()
    assert scan_paths([corpus_tree], cache_dir=str(cache), stats=stats) == found
    assert stats.cache_hits == 0 and stats.parsed > 0


@pytest.mark.parametrize("entry", [
    {"all": [{"path": 3, "line": "x"}]}, {"all": "findings"}, {"all": [{}]}, {"f": [{}], "w": [{}]},
    {"f": "x", "w": []}, [], 7, None, {"all": [{"path": "/etc/passwd", "line": 1}]},
], ids=repr)
def test_cache_entries_of_the_wrong_shape_are_not_trusted(corpus_tree, tmp_path, entry):
    """Every entry of the cache (each file's, and the wrapper pass's one entry) replaced with
    well-formed JSON of another shape: the scan finds what it found, from the files."""
    cache = tmp_path / "cache"
    found = scan_paths([corpus_tree], cache_dir=str(cache))
    kinds = set()
    for shard in cache.rglob("shard-*.json"):
        data = json.loads(shard.read_text())
        kinds |= {"pass" if "all" in value else "file" for value in data.values()}
        shard.write_text(json.dumps({key: entry for key in data}))
    assert kinds == {"file", "pass"}  # both kinds of entry were replaced
    stats = ScanStats()
    assert scan_paths([corpus_tree], cache_dir=str(cache), stats=stats) == found
    assert stats.cache_hits == 0


def test_the_cache_is_keyed_by_content_not_by_path(tmp_path):
    cache = str(tmp_path / "cache")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.py").write_text(LOAD)
    scan_paths([tmp_path / "a"], cache_dir=cache)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.py").write_text(LOAD)
    stats = ScanStats()
    (f,) = scan_paths([tmp_path / "b"], cache_dir=cache, stats=stats)
    assert stats.cache_hits == 1 and f.path == str(tmp_path / "b" / "two.py")


def test_default_cache_dir_is_the_user_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda app: str(tmp_path / app))
    assert scan_module.default_cache_dir() == str(tmp_path / "ptmlock" / "scan")

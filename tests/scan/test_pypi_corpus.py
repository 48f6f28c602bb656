"""Scan accuracy on real PyPI packages that load pre-trained models (issue 14, acceptance 2).

Each package is downloaded at a pinned version with `pip download --no-deps` (never installed),
unpacked, scanned with `scan_paths`, and scored against the ground truth written by hand in
tests/data/pypi_corpus/<package>-<version>.json (each file says how it was scored):

- site recall: true load sites with a finding at the site (or at one of its `via` callers,
  where a cross-module wrapper finding is reported) / true load sites;
- id recall: true ids reported at their site (or its `via` callers) / true ids;
- id precision: correct ids / ids reported (distinct ids per true site, its `via` callers
  included, plus distinct ids per any other line: those count as wrong).

Run with `-s` to see the per-package table (docs/scan.md, "Accuracy on real PyPI packages").
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ptmlock.scan.scanner import Finding, scan_paths

CORPUS = Path(__file__).resolve().parent.parent / "data" / "pypi_corpus"
TRUTHS = sorted(CORPUS.glob("*.json"))

SITE_RECALL, ID_RECALL, ID_PRECISION = 0.97, 0.95, 0.97

# pip's own words when the index cannot be reached at all (as opposed to a missing version)
_OFFLINE = re.compile(r"NewConnectionError|Max retries exceeded|Temporary failure in name resolution|"
                      r"Network is unreachable|ConnectTimeout|ReadTimeout|ProxyError|Connection refused")


@dataclass(frozen=True)
class Score:
    """One package's counts."""

    package: str
    version: str
    sites: int
    found: int
    ids: int
    correct: int
    reported: int
    extra_sites: int  # findings at lines that are not load sites

    @property
    def site_recall(self) -> float:
        return self.found / self.sites if self.sites else 1.0

    @property
    def id_recall(self) -> float:
        return self.correct / self.ids if self.ids else 1.0

    @property
    def id_precision(self) -> float:
        return self.correct / self.reported if self.reported else 1.0


def _truth(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every pinned package of the corpus, downloaded once per run (no install, no deps)."""
    dest = tmp_path_factory.mktemp("pypi_corpus_downloads")
    pins = [f"{t['package']}=={t['version']}" for t in map(_truth, TRUTHS)]
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                           "-q", "-d", str(dest), *pins], capture_output=True, text=True, timeout=900,
                          check=False)
    if proc.returncode != 0:
        if _OFFLINE.search(proc.stderr):
            pytest.skip(f"PyPI unreachable: {proc.stderr.strip().splitlines()[-1]}")
        raise AssertionError(f"pip download failed:\n{proc.stderr}")
    return dest


def _unpack(archive: Path, dest: Path) -> Path:
    """The package's sources, unpacked under `dest` (wheels are zip files; sdists tarballs)."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest, members=[n for n in z.namelist() if n.endswith(".py")])
    else:
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")
    return dest


def _findings(truth: dict[str, object], downloads: Path, work: Path) -> tuple[Path, list[Finding]]:
    archive = downloads / str(truth["wheel"])
    assert archive.is_file(), f"pip did not fetch {archive.name}: {sorted(p.name for p in downloads.iterdir())}"
    root = _unpack(archive, work / archive.stem)
    return root, scan_paths([str(root)], use_cache=False)


def score(truth: dict[str, object], root: Path, findings: list[Finding]) -> Score:
    """Score `findings` (a scan of the package unpacked at `root`) against `truth`."""
    by_site: dict[tuple[str, int], list[Finding]] = {}
    for f in findings:
        rel = os.path.relpath(f.path, root).replace(os.sep, "/")
        by_site.setdefault((rel, f.line), []).append(f)
    sites = truth["sites"]
    assert isinstance(sites, list)
    found = n_ids = correct = all_reported = 0
    claimed: set[tuple[str, int]] = set()
    for s in sites:
        where = [(s["path"], s["line"]), *((v["path"], v["line"]) for v in s.get("via", []))]
        hits = [f for w in where for f in by_site.get(w, [])]
        claimed.update(where)
        found += bool(hits)
        reported = {i for f in hits for i in f.model_ids or ()}
        n_ids += len(s["ids"])
        correct += len(reported & set(s["ids"]))
        all_reported += len(reported)
    # ids reported anywhere else are all wrong: the line is not a load site
    unclaimed = [fs for where, fs in by_site.items() if where not in claimed]
    all_reported += sum(len({i for f in fs for i in f.model_ids or ()}) for fs in unclaimed)
    extra = sum(len(fs) for fs in unclaimed)
    return Score(str(truth["package"]), str(truth["version"]), len(sites), found, n_ids, correct, all_reported, extra)


def table(scores: list[Score]) -> Iterator[str]:
    """The per-package table, as Markdown rows (the last one the whole corpus)."""
    yield ("| package | version | sites | found | ids | correct | reported | site recall | id recall "
           "| id precision | extra sites |")
    yield "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    total = Score("**all**", "", *(sum(getattr(s, k) for s in scores) for k in
                                   ("sites", "found", "ids", "correct", "reported", "extra_sites")))
    for s in [*scores, total]:
        yield (f"| {s.package} | {s.version} | {s.sites} | {s.found} | {s.ids} | {s.correct} | {s.reported} "
               f"| {s.site_recall:.1%} | {s.id_recall:.1%} | {s.id_precision:.1%} | {s.extra_sites} |")


def test_corpus_has_eight_real_packages_scored_by_hand() -> None:
    truths = [_truth(p) for p in TRUTHS]
    assert len(truths) >= 8
    for path, t in zip(TRUTHS, truths):
        assert path.name == f"{t['package']}-{t['version']}.json"
        assert t["scoring"] and t["sites"], path.name


def test_scan_accuracy_on_real_pypi_packages(downloads: Path, tmp_path: Path) -> None:
    scores: list[Score] = []
    misses: list[str] = []
    for path in TRUTHS:
        truth = _truth(path)
        root, findings = _findings(truth, downloads, tmp_path)
        scores.append(score(truth, root, findings))
        reported = {(os.path.relpath(f.path, root).replace(os.sep, "/"), f.line) for f in findings}
        for s in truth["sites"]:  # type: ignore[attr-defined]
            if not {(s["path"], s["line"]), *((v["path"], v["line"]) for v in s.get("via", []))} & reported:
                misses.append(f"{truth['package']}: {s['path']}:{s['line']} {s['call']}")
    rows = list(table(scores))
    print("\n" + "\n".join(rows))
    if misses:
        print("missed sites:\n  " + "\n  ".join(misses))
    sites = sum(s.sites for s in scores)
    ids = sum(s.ids for s in scores)
    reported = sum(s.reported for s in scores)
    found = sum(s.found for s in scores)
    correct = sum(s.correct for s in scores)
    assert found / sites >= SITE_RECALL, rows[-1]
    assert correct / ids >= ID_RECALL, rows[-1]
    assert correct / reported >= ID_PRECISION, rows[-1]

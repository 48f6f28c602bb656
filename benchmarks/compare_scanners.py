"""Compare `ptmlock audit --deep`'s scanner with picklescan, fickling, modelscan and modelaudit (issue 23).

    python benchmarks/compare_scanners.py [--peer-venv /work/venv-peers] [--markdown] [--bulk-gib 1]

The peers live in their own virtual environment (never the project's): create it with
    python -m venv /work/venv-peers
    /work/venv-peers/bin/pip install picklescan==1.0.5 fickling==0.1.12 modelscan==0.8.8 \\
        modelaudit==0.2.54 torch==2.14.1 keras h5py onnx onnxruntime tensorflow-cpu==2.21.0
(keras, h5py, onnx and tensorflow also let the peers read those formats, and let the battery write
real Keras files and prove their Lambda payloads run).

The battery: tests/pickle_battery.py (pickles, containers, compressions, numpy, callables outside
deny-lists, parser differentials) and tests/format_battery.py (beyond pickles). Every malicious
file is first loaded the way a user loads it, in a fresh interpreter, and counts only if its
payload (touching a marker file) ran. "structural" files are findings whose payload current
loaders refuse (counted apart). The benign corpus: real checkpoints written at run time by torch,
transformers' Trainer, timm, diffusers, sentence-transformers, numpy, joblib and safetensors,
Keras files written by keras (with --peer-venv), and hand-built ONNX, SavedModel and GGUF files.

Per file and tool: flagged (a finding that fails CI), weaker (only a warning-level note:
picklescan "suspicious", modelscan LOW/MEDIUM, modelaudit info, ptmlock unknown-global), error
(the tool said it could not scan), missed, crashed (a traceback, a segfault, a timeout, or no
report). Every tool runs one process per file, as the CLI a CI job would call (modelscan and
modelaudit take 5-20 s each to start). `--bulk-gib N` also times ptmlock and picklescan over N GiB
of mixed checkpoints.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import format_battery as formats  # noqa: E402
import pickle_battery as battery  # noqa: E402

TOOLS = ("ptmlock", "picklescan", "fickling", "modelscan", "modelaudit")
OUTCOMES = ("flagged", "weaker", "error", "missed", "crashed")
QUIET = {"PROMPTFOO_DISABLE_TELEMETRY": "1", "MODELAUDIT_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
         "TF_CPP_MIN_LOG_LEVEL": "3"}  # no KERAS_BACKEND=torch: modelscan segfaults with it
_PTMLOCK = ("import json, sys\nfrom ptmlock.supply.pickles import scan_file\nr = scan_file(sys.argv[1])\n"
            "print(json.dumps({'verdict': r.verdict, 'flags': [c for c, _ in r.flags]}))")
_CALLABLES = {"fx_graph_module.pt", "ctypes_call.pkl", "subinterpreter.pkl", "imaplib_stream.pkl", "uuid_command.pkl",
              "osx_support.pkl", "doctest_run.pkl", "f2py_eval.pkl", "gzip_write.pkl"}
_DIFFERENTIALS = {"no_proto_header.bin", "int_spelling_p0.pkl", "npy_object_word.npy", "npy_py2_header.npy",
                  "npy_structured.npy", "npz_torch_name.npz", "npz_folder_name.npz", "eocd_first.npz",
                  "zip_duplicates.pt", "zip_descriptor.pt", "zip64.pt", "zfile.joblib", "lzma_dict.joblib",
                  "polyglot.safetensors"}


def klass(name: str) -> str:
    """The battery class a malicious file belongs to (the rows of the summary)."""
    if name in _CALLABLES:
        return "callables outside deny-lists"
    if name in _DIFFERENTIALS:
        return "parser differentials"
    if name.endswith((".gguf", ".keras", ".h5")):
        return "beyond pickles"
    if name.endswith((".joblib", ".gz")) or "gzip" in name:
        return "compression / joblib"
    if name.endswith((".npy", ".npz")):
        return "numpy"
    if "zip" in name or "tar" in name or "legacy" in name or name.endswith((".pt", ".pth.tar")):
        return "containers"
    return "pickle opcodes"


def _run(cmd: list[str], timeout: float = 900) -> tuple[int, str, str, float]:
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, **QUIET})
    except subprocess.TimeoutExpired:
        return -9, "", "timeout", time.perf_counter() - start
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - start


def ptmlock(path: Path) -> tuple[str, float]:
    rc, out, err, took = _run([sys.executable, "-c", _PTMLOCK, str(path)])
    if rc != 0 or "Traceback" in err:
        return "crashed", took
    verdict = json.loads(out)["verdict"]
    return {"dangerous": "flagged", "inconclusive": "flagged", "unknown-global": "weaker"}.get(verdict, "missed"), took


def picklescan(peer: Path, path: Path) -> tuple[str, float]:
    rc, out, err, took = _run([str(peer / "bin" / "picklescan"), "--path", str(path)])
    if "Traceback" in err or rc not in (0, 1, 2):
        return "crashed", took
    if rc == 1:
        return "flagged", took
    if rc == 2:
        return "error", took
    suspicious = [line for line in out.splitlines() if line.startswith("Suspicious globals:")]
    return ("weaker" if suspicious and not suspicious[-1].endswith(" 0") else "missed"), took


def fickling(peer: Path, path: Path) -> tuple[str, float]:
    # its CLI: 0 likely safe, 1 unsafe (any severity: CI fails), 2 could not parse
    rc, _out, err, took = _run([str(peer / "bin" / "fickling"), "--check-safety", str(path)])
    if "Traceback" in err or rc not in (0, 1, 2):
        return "crashed", took
    return {0: "missed", 1: "flagged", 2: "error"}[rc], took


def modelscan(peer: Path, path: Path) -> tuple[str, float]:
    # its CLI: 0 no issue, 1 issues, 2 scan errors, 3 nothing it supports, 4 usage
    report = path.parent / f".{path.name}.modelscan.json"
    rc, _out, err, took = _run([str(peer / "bin" / "modelscan"), "-p", str(path), "-r", "json", "-o", str(report)])
    try:
        data = json.loads(report.read_text())
        report.unlink()
    except (OSError, ValueError):
        return ("missed" if rc == 3 else "crashed"), took
    if rc not in (0, 1, 2, 3) or "Traceback" in err:
        return "crashed", took
    severities = {issue.get("severity") for issue in data.get("issues", [])}
    if severities & {"CRITICAL", "HIGH"}:
        return "flagged", took
    if data.get("errors"):
        return "error", took
    return ("weaker" if severities else "missed"), took


def modelaudit(peer: Path, path: Path) -> tuple[str, float]:
    # its CLI: 0 clean, 1 issues (warning or critical: CI fails), 2 scan errors
    rc, out, err, took = _run([str(peer / "bin" / "modelaudit"), "scan", str(path), "--format", "json", "--no-cache"])
    try:
        data = json.loads(out[out.index("{"):])
    except ValueError:
        return "crashed", took
    if rc not in (0, 1, 2) or "Traceback" in err:
        return "crashed", took
    severities = {str(issue.get("severity", "")).lower() for issue in data.get("issues", [])}
    if rc == 1 or severities & {"critical", "warning"}:
        return "flagged", took
    if rc == 2:
        return "error", took
    return ("weaker" if "info" in severities else "missed"), took


def build(root: Path, peer: Path | None) -> tuple[dict[str, Path], dict[str, bool], dict[str, Path], dict[str, Path]]:
    """(malicious file per name, whether its payload ran, structural files, benign files)."""
    markers = Path(tempfile.mkdtemp(prefix="ptm-m-"))
    malicious = battery.write_malicious(root / "malicious", markers, battery.MALICIOUS + formats.RUNNABLE)
    runs = battery.payloads_run(malicious)
    python = str(peer / "bin" / "python") if peer else ""
    (root / "keras").mkdir()
    keras = formats.write_keras(python, root / "keras", markers) if peer else {}
    keras_bad = {n: v for n, v in keras.items() if not n.startswith("benign_")}
    runs |= battery.payloads_run(keras_bad, python=python, env={**QUIET, "KERAS_BACKEND": "torch"}) if keras_bad else {}
    files = {n: p for n, (_e, p, _m) in (malicious | keras_bad).items()}
    structural = {}
    for name, _what, make, _code in formats.STRUCTURAL:
        path = root / "structural" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
        structural[name] = path
    benign = battery.write_benign(root / "benign", root / "work")
    for name, _what, make in formats.BENIGN:
        benign[name] = root / "benign" / name
        benign[name].write_bytes(make())
    for name, (_e, path, _m) in keras.items():
        if name.startswith("benign_"):
            benign[name] = path
    return files, runs, structural, benign


def scan_all(peer: Path | None, groups: dict[str, dict[str, Path]], skip_slow: bool
             ) -> tuple[dict[str, dict[Path, str]], dict[str, float]]:
    """Every tool on every file, one process per file (as a CI job scans a file)."""
    results: dict[str, dict[Path, str]] = defaultdict(dict)
    times: dict[str, float] = Counter()
    scanners = [("ptmlock", lambda p: ptmlock(p))]
    if peer:
        scanners += [(name, lambda p, f=f: f(peer, p)) for name, f in (  # type: ignore[misc]
            ("picklescan", picklescan), ("fickling", fickling), ("modelscan", modelscan), ("modelaudit", modelaudit))
            if not (skip_slow and name in ("modelscan", "modelaudit"))]
    for path in [p for group in groups.values() for p in group.values()]:
        for tool, scan in scanners:
            results[tool][path], took = scan(path)
            times[tool] += took
    return results, times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer-venv", type=Path, default=Path(os.environ.get("PTMLOCK_PEER_VENV", "/work/venv-peers")),
                        help="the virtual environment holding the peer scanners (default /work/venv-peers)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown (for docs/)")
    parser.add_argument("--skip-slow", action="store_true", help="leave out modelscan and modelaudit")
    parser.add_argument("--bulk-gib", type=float, default=0.0,
                        help="also time ptmlock and picklescan over this many GiB of mixed checkpoints")
    parser.add_argument("--bulk-only", action="store_true", help="only the --bulk-gib timing, no battery")
    options = parser.parse_args()
    peer = options.peer_venv if (options.peer_venv / "bin" / "picklescan").exists() else None
    if peer is None:
        print(f"no peer scanners in {options.peer_venv}: ptmlock only", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ptm-compare-") as tmp:
        root = Path(tmp)
        if options.bulk_only:
            bulk(root / "bulk", options.bulk_gib or 1.0, peer)
            return 0
        files, runs, structural, benign = build(root, peer)
        proven = {n: p for n, p in files.items() if runs.get(n)}
        groups = {"malicious": proven, "structural": structural, "benign": benign}
        results, times = scan_all(peer, groups, options.skip_slow)
        tools = [t for t in TOOLS if results.get(t)]
        report(tools, groups, results, times, markdown=options.markdown,
               unproven=sorted(set(files) - set(proven)))
        if options.bulk_gib:
            bulk(root / "bulk", options.bulk_gib, peer)
    return 0


def report(tools: list[str], groups: dict[str, dict[str, Path]], results: dict[str, dict[Path, str]],
           times: dict[str, float], *, markdown: bool, unproven: list[str]) -> None:
    rows = [("file", "class", *tools)]
    for kind in ("malicious", "structural", "benign"):
        for name, path in sorted(groups[kind].items(), key=lambda kv: (klass(kv[0]), kv[0])):
            label = klass(name) if kind == "malicious" else kind
            rows.append((name, label, *(results[t].get(path, "-") for t in tools)))
    _table(rows, markdown)
    print()
    summary = [("class", "files", *tools)]
    by_class: dict[str, list[Path]] = defaultdict(list)
    for name, path in groups["malicious"].items():
        by_class[klass(name)].append(path)
    for label, paths in sorted(by_class.items()):
        summary.append((label, str(len(paths)), *(str(sum(results[t].get(p) == "flagged" for p in paths))
                                                   for t in tools)))
    summary.append(("structural (payload refused by current loaders)", str(len(groups["structural"])),
                    *(str(sum(results[t].get(p) == "flagged" for p in groups["structural"].values())) for t in tools)))
    _table(summary, markdown)
    print()
    totals = [("tool", *OUTCOMES, "false alarms", "time (s)")]
    malicious = list(groups["malicious"].values())
    for t in tools:
        counts = Counter(results[t].get(p, "missed") for p in malicious)
        false = sum(results[t].get(p) in ("flagged", "error", "crashed") for p in groups["benign"].values())
        totals.append((t, *(str(counts[o]) for o in OUTCOMES), f"{false} of {len(groups['benign'])}",
                       f"{times[t]:.1f}"))
    _table(totals, markdown)
    print(f"\nmalicious files whose payload ran when loaded: {len(malicious)}"
          + (f" (not proven, left out: {', '.join(unproven)})" if unproven else ""))


def _table(rows: list[tuple[str, ...]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for r in rows[1:]:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))


def bulk(folder: Path, gib: float, peer: Path | None) -> None:
    """Time ptmlock (one process, scan_file per file) and picklescan (one process over the folder)
    over `gib` GiB of torch zip, torch legacy, .npy, joblib and safetensors checkpoints."""
    import numpy as np
    import torch

    folder.mkdir(parents=True)
    per = int(gib * (1 << 30) / 8)  # eight files of this many bytes
    tensors = {f"layer{i}.weight": torch.randn(per // 4 // 4) for i in range(4)}
    for i in range(4):
        torch.save(tensors, folder / f"zip_{i}.pt")
    torch.save(tensors, folder / "legacy.bin", _use_new_zipfile_serialization=False)
    np.save(folder / "arr.npy", np.random.rand(per // 8))
    import joblib
    joblib.dump({"coef": np.random.rand(per // 8)}, folder / "model.joblib")
    from safetensors.torch import save_file
    save_file(tensors, str(folder / "model.safetensors"))
    size = sum(p.stat().st_size for p in folder.iterdir())
    script = ("import sys, time\nfrom pathlib import Path\nfrom ptmlock.supply.pickles import scan_file\n"
              "v = [scan_file(p).verdict for p in sorted(Path(sys.argv[1]).iterdir())]\nprint(v)")
    rc, out, err, ours = _run([sys.executable, "-c", script, str(folder)], timeout=3600)
    print(f"\nbulk: {size / (1 << 30):.2f} GiB in {len(list(folder.iterdir()))} checkpoints; ptmlock {ours:.2f} s "
          f"(verdicts {out.strip()}{' CRASHED ' + err[-200:] if rc else ''})", end="")
    if peer:
        _rc, _out, _err, theirs = _run([str(peer / "bin" / "picklescan"), "--path", str(folder)], timeout=3600)
        print(f", picklescan {theirs:.2f} s: ratio {ours / theirs:.2f}")
    else:
        print()


if __name__ == "__main__":
    raise SystemExit(main())

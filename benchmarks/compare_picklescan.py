"""Compare `ptmlock audit --deep`'s scanner with picklescan on the project's battery (issue 12).

    python benchmarks/compare_picklescan.py [--markdown]

Builds every file of tests/pickle_battery.py in a temporary directory (malicious files, whose
payload creates a marker file, and real checkpoints written by torch, transformers, timm,
diffusers, sentence-transformers and numpy), then for each file prints:

- whether the payload really runs when its loader (pickle.load, torch.load(weights_only=False),
  joblib.load or np.load(allow_pickle=True)) loads it, in a fresh interpreter;
- ptmlock's verdict (`ptmlock.supply.pickles.scan_file`): dangerous, inconclusive, unknown-global
  (all three are `audit --deep` findings), clean or not-pickle;
- picklescan's verdict (`picklescan.scanner.scan_file_path`): dangerous (an infected file),
  error (picklescan could not scan it; its CLI exits 2), suspicious, clean, or not scanned.

A tool *misses* a file whose payload runs when it reports neither a finding nor an error
(ptmlock: clean or not-pickle; picklescan: clean, suspicious or not scanned — picklescan counts
no infected file for those and exits 0). A false alarm is a finding on a benign file. The scan
times of both tools over the battery are printed side by side.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import pickle_battery as battery

from ptmlock.supply.pickles import scan_file

PTMLOCK_FLAGS = ("dangerous", "inconclusive", "unknown-global")
PICKLESCAN_FLAGS = ("dangerous", "error")


def picklescan_verdict(path: Path) -> str:
    from picklescan.scanner import scan_file_path

    try:
        result = scan_file_path(str(path))
    except Exception as e:  # noqa: BLE001 -- picklescan raising is an error verdict, as its CLI reports it
        return f"error ({type(e).__name__})"
    if result.infected_files or result.issues_count:
        return "dangerous"
    if result.scan_err:
        return "error"
    if result.suspicious_count:
        return "suspicious"
    return "clean" if result.scanned_files else "not scanned"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for docs/)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ptm-battery-") as tmp:
        root = Path(tmp)
        malicious = battery.write_malicious(root / "malicious", root / "markers")
        runs = battery.payloads_run(malicious)
        benign = battery.write_benign(root / "benign", root / "work")
        rows: list[tuple[str, str, str, str, str, bool]] = []  # file, what, runs, ptmlock, picklescan, malicious
        times = {"ptmlock": 0.0, "picklescan": 0.0}
        files = [(e.name, e.what, path, "yes" if runs[e.name] else "no", True) for e, path, _m in malicious.values()]
        files += [(b.name, b.what, benign[b.name], "benign", False) for b in battery.BENIGN]
        for name, what, path, ran, bad in files:
            start = time.perf_counter()
            ours = scan_file(path).verdict
            times["ptmlock"] += time.perf_counter() - start
            start = time.perf_counter()
            theirs = picklescan_verdict(path)
            times["picklescan"] += time.perf_counter() - start
            rows.append((name, what, ran, ours, theirs, bad))
    _print(rows, markdown=options.markdown)
    running = [r for r in rows if r[5] and r[2] == "yes"]
    ours_missed = [r[0] for r in running if r[3] not in PTMLOCK_FLAGS]
    theirs_missed = [r[0] for r in running if not r[4].startswith(PICKLESCAN_FLAGS)]
    ours_false = [r[0] for r in rows if not r[5] and r[3] in PTMLOCK_FLAGS]
    theirs_false = [r[0] for r in rows if not r[5] and r[4].startswith(PICKLESCAN_FLAGS)]
    benign = sum(1 for r in rows if not r[5])
    print()
    print(f"malicious files whose payload runs when loaded: {len(running)} of {sum(1 for r in rows if r[5])}")
    print(f"missed (payload runs, no finding, no error):  ptmlock {len(ours_missed)}   picklescan {len(theirs_missed)}")
    if ours_missed:
        print(f"  ptmlock missed: {', '.join(ours_missed)}")
    for verdict in ("clean", "suspicious", "not scanned"):
        names = [r[0] for r in running if r[4] == verdict]
        if names:
            print(f"  picklescan said {verdict} ({len(names)}): {', '.join(names)}")
    print(f"false alarms on {benign} real checkpoints:       ptmlock {len(ours_false)}   picklescan {len(theirs_false)}")
    ratio = times["ptmlock"] / times["picklescan"] if times["picklescan"] else float("nan")
    print(f"scan time over the battery: ptmlock {times['ptmlock'] * 1000:.0f} ms, picklescan "
          f"{times['picklescan'] * 1000:.0f} ms (ratio ptmlock/picklescan {ratio:.2f})")
    return 0


def _print(rows: list[tuple[str, str, str, str, str, bool]], *, markdown: bool) -> None:
    head = ("file", "what", "payload runs", "ptmlock", "picklescan")
    body = [r[:5] for r in rows]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in body:
            print("| " + " | ".join(f"`{r[0]}`" if i == 0 else c for i, c in enumerate(r)) + " |")
        return
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    widths[1] = min(widths[1], 60)
    for r in [head, *body]:
        print("  ".join(str(c)[:widths[i]].ljust(widths[i]) for i, c in enumerate(r)))


if __name__ == "__main__":
    raise SystemExit(main())

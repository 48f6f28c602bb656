"""Ctrl-C during a cold `ptmlock scan` on many files: the terminal sends SIGINT to the whole
process group (the CLI and its worker processes); the scan says "Interrupted.", exits 130, and
no worker outlives it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")

_FILE = "from transformers import AutoModel\n\n{pad}\n\ndef load():\n    return AutoModel.from_pretrained('org/m{n}')\n"


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4: the parent's pid
                out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_during_a_cold_scan_exits_130_and_leaves_no_worker(tmp_path):
    tree = tmp_path / "tree"
    pad = "\n".join(f"X{k} = {k} * 2  # filler line" for k in range(400))  # parsed, so each file costs
    for d in range(40):
        (tree / f"pkg{d}").mkdir(parents=True)
        for n in range(100):
            (tree / f"pkg{d}" / f"m{n}.py").write_text(_FILE.format(pad=pad, n=n))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ptmlock", "scan", "--jobs", "2", str(tree)], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        workers: set[int] = set()
        deadline = time.monotonic() + 60
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            workers = _children(proc.pid)
            time.sleep(0.02)
        assert len(workers) == 2, f"the scan ended before its workers started\n{proc.communicate()[1]}"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().endswith("Interrupted.") and "Traceback" not in err, err
    assert not [pid for pid in workers if _alive(pid)], err

"""Every verb of ptmlock once, as a user runs it after a plain `pip install` (issue 24).

    python tests/plain_install/every_verb.py [--extra signing]

Runs in the plain-install venv (tests/plain_install/run.sh): only ptmlock and its declared
dependencies are installed, so a missing dependency is an exit 70 (or a traceback) here. Serves
the local hub (`ptmlock.testing`, nothing but ptmlock) and the real CNCF registry when it is
installed, runs every verb through the installed `ptmlock` script and checks each exit code.
With `--extra signing` (a venv with only `ptmlock[signing]`): locks, syncs and verifies a signed
model. Without it: a manifest asking for signatures is exit 3 naming the extra.
Prints one line per verb; exit 1 (after running all of them) if any went wrong.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ptmlock.testing import LocalHub
from ptmlock.testing.oci_registry import OciRegistry, registry_available

TESTS = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG = b'{"hidden_size": 4, "model_type": "bert"}'

def _safetensors() -> bytes:
    """A valid .safetensors file: one float32 tensor of 1024 zeros."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}).encode()
    return struct.pack("<Q", len(header)) + header + bytes(4096)


WEIGHTS = _safetensors()
failures: list[str] = []


def run(args: list[str], cwd: Path, env: dict[str, str], want: int = 0, says: str = "") -> str:
    """Run one command; record a failure when its exit code is not `want`, it is 70, it prints a
    traceback, or its output lacks `says`. Returns stdout + stderr."""
    start = time.monotonic()
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = r.stdout + r.stderr
    shown = " ".join(Path(a).name if a.startswith(str(BIN)) else a for a in args)
    wrong = r.returncode != want or r.returncode == 70 or "Traceback" in out or says not in out
    print(f"{'FAIL' if wrong else 'ok  '} exit {r.returncode:<3} {time.monotonic() - start:5.1f}s  {shown}", flush=True)
    if wrong:
        failures.append(f"{shown}: exit {r.returncode} (wanted {want}{f', saying {says!r}' if says else ''})\n"
                        f"--- stdout\n{r.stdout}--- stderr\n{r.stderr}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extra", choices=["signing"])
    extra = parser.parse_args().extra
    tmp = Path(tempfile.mkdtemp(prefix="ptmlock-plain-"))
    try:
        with LocalHub(tmp / "hub") as hub:
            return verbs(hub, tmp, extra)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verbs(hub: LocalHub, tmp: Path, extra: str | None) -> int:
    ptm = str(BIN / "ptmlock")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PTMLOCK_", "HF_"))}
    env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp / "hf"), XDG_CACHE_HOME=str(tmp / "xdg"),
               XDG_STATE_HOME=str(tmp / "xdg-state"), DOCKER_CONFIG=str(tmp / "docker"), NO_COLOR="1",
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1", PTMLOCK_HUB_DEADLINE="30")
    project = tmp / "app"
    project.mkdir()
    if extra == "signing":
        return signing(hub, tmp, project, env, ptm)
    hub.commit("org/tiny", {"config.json": CONFIG, "model.safetensors": WEIGHTS})
    hub.commit("org/other", {"config.json": CONFIG, "pytorch_model.bin": b"not a pickle"})
    (project / "app.py").write_text('from transformers import AutoModel\nm = AutoModel.from_pretrained("org/tiny")\n')
    run([ptm, "--version"], project, env)
    run([ptm, "--help"], project, env)
    run([ptm, "init"], project, env)
    run([ptm, "add", "org/tiny", "--role", "text"], project, env)
    run([ptm, "add", "org/other", "--role", "text", "--no-lock"], project, env)
    run([ptm, "role", "text", "--default", "org/tiny"], project, env)
    run([ptm, "role", "text"], project, env, says="* org/tiny")
    run([ptm, "remove", "org/other"], project, env)
    run([ptm, "lock"], project, env)
    run([ptm, "lock", "--check"], project, env)
    run([ptm, "sync"], project, env)
    run([ptm, "verify"], project, env)
    run([ptm, "list"], project, env, says="org/tiny")
    run([ptm, "tree"], project, env, says="org/tiny")
    run([ptm, "outdated"], project, env)
    run([ptm, "update"], project, env)
    run([ptm, "scan", "."], project, env, says="org/tiny")
    run([ptm, "check"], project, env)
    run([ptm, "audit"], project, env)
    run([ptm, "audit", "--deep"], project, env)
    run([ptm, "export", "-o", "bom.json"], project, env)
    run([ptm, "doctor"], project, env)
    for shell in ("bash", "zsh", "fish"):
        run([ptm, "completion", shell], project, env)
    run([ptm, "run", "--", str(BIN / "python"), "-c", "import ptmlock.enforce"], project, env)
    run([str(BIN / "python"), "-m", "ptmlock.scan.regenerate", "--check"], project, env, want=3,
        says="pip install 'ptmlock[test-ml]'")
    signed = tmp / "signed"
    signed.mkdir()
    (signed / "ptm.toml").write_text('[project]\nname = "s"\n\n[signing]\npublic-key = "k.pem"\n\n'
                                     '[models."org/tiny"]\n')
    (signed / "k.pem").write_text("not used: the extra is missing\n")
    run([ptm, "lock"], signed, env, want=3, says="pip install 'ptmlock[signing]'")
    oci(tmp, project, env, ptm)
    for line in failures:
        print(line, file=sys.stderr)
    return 1 if failures else 0


def oci(tmp: Path, project: Path, env: dict[str, str], ptm: str) -> None:
    """publish to the real registry, then sync from it as a [[source]] into an empty cache."""
    reason = registry_available()
    if reason:
        print(f"skip OCI verbs: {reason}")
        return
    with OciRegistry(tmp / "registry") as reg:
        url = f"oci+http://{reg.host}/models"
        run([ptm, "publish", url], project, env)
        manifest = project / "ptm.toml"
        manifest.write_text(manifest.read_text() + f'\n[[source]]\nname = "fleet"\nurl = "{url}"\npriority = 0\n')
        fresh = {**env, "HF_HOME": str(tmp / "hf2"), "XDG_CACHE_HOME": str(tmp / "xdg2"),
                 "HF_ENDPOINT": "http://127.0.0.1:9"}  # the hub is out of reach: only the registry serves
        run([ptm, "lock"], project, env)
        run([ptm, "sync", "--source", "fleet"], project, fresh)
        run([ptm, "verify"], project, fresh)


def signing(hub: LocalHub, tmp: Path, project: Path, env: dict[str, str], ptm: str) -> int:
    """With ptmlock[signing] alone: a signed model locks, syncs and verifies with --signatures."""
    sys.path.insert(0, str(TESTS))
    from signhelpers import sign_with_key, write_key

    private, public = write_key(tmp, "acme")
    (project / "keys").mkdir()
    shutil.copy(public, project / "keys" / "acme.pem")
    files = {"config.json": CONFIG, "model.safetensors": WEIGHTS}
    hub.commit("acme/ft", {**files, "model.sig": sign_with_key(tmp / "work", files, private)})
    (project / "ptm.toml").write_text('[project]\nname = "app"\n\n[signing]\npublic-key = "keys/acme.pem"\n\n'
                                      '[models."acme/ft"]\n')
    run([ptm, "lock"], project, env)
    run([ptm, "sync"], project, env)
    run([ptm, "verify", "--signatures"], project, env)
    run([ptm, "list"], project, env, says="acme/ft")
    for line in failures:
        print(line, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

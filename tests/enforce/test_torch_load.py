"""The guard's torch.load adapter: pickle weights from the hub load with weights_only=True unless
the model opted out (`trust-pickle = true`), and in strict mode an opted-out file must have
passed `ptmlock audit --deep`. Real transformers and torch on tiny models served by LocalHub,
each program in a fresh interpreter; a payload that runs leaves a marker file."""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys

import pickle_battery as battery
import pytest
from tinymodels import _bert, clean_environ, last_json, run_app

from ptmlock.testing import LocalHub

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.ml]  # real torch

APP = """
import json, warnings, pickle
{guard}
import torch
from huggingface_hub import hf_hub_download
from transformers import AutoModel

out = {{}}
def attempt(key, fn):
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = fn()
        out[key] = {{"value": value, "warnings": [str(w.message) for w in caught if "ptmlock" in str(w.message)]}}
    except Exception as e:
        out[key] = {{"error": type(e).__name__, "message": str(e), "notes": getattr(e, "__notes__", [])}}

{body}
print(json.dumps(out))
"""


def _bert_files(payload_marker: str | None = None, extra: object = None) -> dict[str, bytes]:
    import torch

    model = _bert(1.0)
    state = dict(model.state_dict())
    if payload_marker is not None:
        state["__evil__"] = battery.evil_object(payload_marker)
    if extra is not None:
        state["__args__"] = extra
    buf = io.BytesIO()
    torch.save(state, buf)
    return {"config.json": model.config.to_json_string().encode(), "pytorch_model.bin": buf.getvalue()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchload")
    project = root / "proj"
    project.mkdir()
    markers = root / "markers"
    markers.mkdir()
    evil_marker = markers / "evil.ran"
    hub = LocalHub(root / "hub")
    hub.__enter__()
    env = {**clean_environ(), "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(root / "hf"),
           "HF_HUB_CACHE": str(root / "hf" / "hub"), "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "XDG_CACHE_HOME": str(root / "xdg")}
    hub.commit("org/plain", _bert_files())
    hub.commit("org/evil", _bert_files(str(evil_marker)))
    hub.commit("org/trusted", _bert_files(extra=argparse.Namespace(lr=0.1)))
    files = battery.write_malicious(root / "battery", markers)
    torch_entries = {name: v for name, v in files.items() if v[0].loader == "torch"}
    hub.commit("org/battery", {name: path.read_bytes() for name, (_e, path, _m) in torch_entries.items()})
    (project / "ptm.toml").write_text(
        '[project]\nname = "app"\n\n[models."org/plain"]\n\n[models."org/evil"]\n\n[models."org/battery"]\n\n'
        '[models."org/trusted"]\ntrust-pickle = true\n')
    lock = subprocess.run([sys.executable, "-m", "ptmlock", "lock"], cwd=project, capture_output=True, text=True, check=False,
                          env=env)
    assert lock.returncode == 0, lock.stderr
    yield {"root": root, "project": project, "env": env, "hub": hub, "evil_marker": evil_marker,
           "battery": torch_entries}
    hub.__exit__(None, None, None)


def _run(world, body: str, *, guard: bool = True, mode: str = "warn"):
    source = APP.format(guard="import ptmlock.enforce" if guard else "", body=body)
    proc = run_app(world["project"], source, base=world["env"], env={"PTMLOCK_MODE": mode})
    return last_json(proc)


def test_guarded_from_pretrained_of_a_pickle_only_model_loads_with_weights_only(world):
    out = _run(world, """
attempt("plain", lambda: AutoModel.from_pretrained("org/plain").embeddings.LayerNorm.bias[0].item())
attempt("plain-unsafe", lambda: AutoModel.from_pretrained("org/plain", weights_only=False)
        .embeddings.LayerNorm.bias[0].item())
path = hf_hub_download("org/trusted", "pytorch_model.bin")
attempt("namespace", lambda: str(type(torch.load(hf_hub_download("org/plain", "pytorch_model.bin"),
                                                 weights_only=False))))
""")
    assert out["plain"] == {"value": 1.0, "warnings": []}
    assert out["plain-unsafe"]["value"] == 1.0
    assert any("with torch.load(weights_only=True) although the caller asked for weights_only=False" in w
               for w in out["plain-unsafe"]["warnings"]), out


def test_a_malicious_pickle_runs_unguarded_and_not_under_the_guard(world):
    marker = world["evil_marker"]
    load = 'attempt("evil", lambda: torch.load(hf_hub_download("org/evil", "pytorch_model.bin"), weights_only=False) ' \
           'and "loaded")'
    out = _run(world, load, guard=False)
    assert marker.exists(), out  # the payload is real
    marker.unlink()
    out = _run(world, load + """
attempt("evil-model", lambda: AutoModel.from_pretrained("org/evil", weights_only=False) and "loaded")
""")
    assert not marker.exists()
    assert out["evil"]["error"] == "UnpicklingError"
    assert any("ptmlock: org/evil/pytorch_model.bin was loaded with weights_only=True" in n
               for n in out["evil"]["notes"]), out
    assert "error" in out["evil-model"], out
    assert not marker.exists()


def test_no_battery_payload_runs_under_the_guard(world):
    names = sorted(world["battery"])
    body = f"""
for name in {names!r}:
    attempt(name, lambda name=name: torch.load(hf_hub_download("org/battery", name), weights_only=False) and "ok")
"""
    out = _run(world, body, guard=False)
    ran = {name for name, (_e, _p, marker) in world["battery"].items() if marker.exists()}
    assert ran == set(names), out  # each one really runs unguarded
    for _e, _p, marker in world["battery"].values():
        marker.unlink()
    out = _run(world, body)
    assert [name for name, (_e, _p, marker) in world["battery"].items() if marker.exists()] == []
    assert all("error" in out[name] for name in names), out


def test_trust_pickle_loads_as_asked_and_strict_needs_an_audit(world):
    body = 'attempt("trusted", lambda: vars(torch.load(hf_hub_download("org/trusted", "pytorch_model.bin"), ' \
           'weights_only=False)["__args__"]))'
    out = _run(world, body)
    assert out["trusted"]["value"] == {"lr": 0.1}  # opted out: the caller's weights_only=False stands
    out = _run(world, body, mode="strict")
    assert out["trusted"]["error"] == "GuardError"
    assert "has not passed `ptmlock audit --deep`" in out["trusted"]["message"]
    for args in (("sync",), ("audit", "--deep")):
        r = subprocess.run([sys.executable, "-m", "ptmlock", *args], cwd=world["project"], capture_output=True, check=False,
                           text=True, env=world["env"])
        assert "Traceback" not in r.stderr, r.stderr
    out = _run(world, body, mode="strict")
    assert out["trusted"]["value"] == {"lr": 0.1}, out
    # a file altered after the audit is no longer the one that passed
    snapshot = next((world["root"] / "hf" / "hub" / "models--org--trusted" / "snapshots").iterdir())
    target = (snapshot / "pytorch_model.bin").resolve()
    target.write_bytes(target.read_bytes() + b"\0")
    out = _run(world, body, mode="strict")
    assert out["trusted"]["error"] == "GuardError", out
    json.dumps(out)


def test_trust_pickle_comes_from_the_project_the_guard_was_turned_on_in(world, tmp_path):
    """The adapter reads the guard's own project, found when `import ptmlock.enforce` ran: a
    program that changes directory before its first torch.load keeps its trust-pickle opt-out
    (it used to look for ptm.lock again from the new directory, find none, and force weights_only)."""
    out = _run(world, f"""
import os
os.chdir({str(tmp_path)!r})
attempt("trusted", lambda: vars(torch.load(hf_hub_download("org/trusted", "pytorch_model.bin"),
                                           weights_only=False)["__args__"]))
attempt("plain", lambda: str(type(torch.load(hf_hub_download("org/plain", "pytorch_model.bin"), weights_only=False))))
""")
    assert out["trusted"]["value"] == {"lr": 0.1}, out
    assert any("although the caller asked for weights_only=False" in w for w in out["plain"]["warnings"]), out

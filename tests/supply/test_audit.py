"""`ptmlock audit`: the [policy] rules on ptm.lock, and `--deep` pickle scanning that never unpickles."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import time
import zipfile

import pytest

from lockhelpers import PY, tiny_repo_files, write_manifest
from ptmlock.supply.pickles import classify, scan_pickle_bytes, scan_pickle_file


def _sub(project, *args, env=None):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


# --- pickles, built without torch ------------------------------------------------------------------


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > marker",))


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _text(s: str) -> bytes:
    raw = s.encode()
    return b"X" + len(raw).to_bytes(4, "little") + raw


def torch_style_state_dict() -> bytes:
    """The protocol-2 pickle torch.save writes for {"weight": FloatTensor(3)}: OrderedDict,
    _rebuild_tensor_v2 and a persistent id naming torch.FloatStorage."""
    od = _global("collections", "OrderedDict") + b")R"
    storage = b"(" + _text("storage") + _global("torch", "FloatStorage") + _text("0") + _text("cpu") + b"K\x03tQ"
    tensor = _global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + b"K\x00K\x03\x85K\x01\x85\x89" + od + b"tR"
    return b"\x80\x02" + od + b"(" + _text("weight") + tensor + b"u."


def torch_zip(pickled: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pickled)
        zf.writestr("archive/data/0", b"\x00" * 12)
        zf.writestr("archive/version", b"3\n")
    return buf.getvalue()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_scan_names_os_system_in_every_protocol_without_running_it(project, protocol):
    assert scan_pickle_bytes(pickle.dumps(_Evil(), protocol=protocol)) == {f"{os.name}.system"}
    assert not (project / "marker").exists()


@pytest.mark.parametrize(("data", "expected"), [
    # the strings STACK_GLOBAL uses are the top two of the stack, not the last two pushed
    (b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94\x8c\x0bcollections\x8c\x0bOrderedDict00\x93\x8c\x02id\x85R.",
     {"posix.system"}),
    # strings fetched back from the memo
    (b"\x80\x02\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x8c\x02id\x85R.", {"os.system"}),
    # a name computed at load time
    (b"\x80\x04\x8c\x02os)\x93.", {"<dynamic>"}),
    # Python 2 names (protocol 0-2) are read as Python 3's
    (b"c__builtin__\neval\n(X\x01\x00\x00\x001tR.", {"builtins.eval"}),
    (b"\x80\x02" + _global("subprocess", "Popen") + b")R.", {"subprocess.Popen"}),
])
def test_scan_follows_the_stack_and_memo(data, expected):
    assert scan_pickle_bytes(data) == expected
    assert all(classify(name) == "dangerous" for name in expected)


def test_torch_style_state_dict_zip_is_not_flagged(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(torch_zip(torch_style_state_dict()))
    result = scan_pickle_file(path)
    assert result.error is None and result.members == ("archive/data.pkl",)
    assert result.globals == ("collections.OrderedDict", "torch.FloatStorage", "torch._utils._rebuild_tensor_v2")
    assert result.dangerous == () and result.unknown == ()


def test_real_torch_save_files_are_not_flagged(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"w": torch.zeros(3), "b": torch.ones(2, dtype=torch.float16), "step": 3}
    for name, zip_format in (("new.pt", True), ("legacy.bin", False)):
        torch.save(state, tmp_path / name, _use_new_zipfile_serialization=zip_format)
        result = scan_pickle_file(tmp_path / name)
        assert result.error is None, name
        assert "torch._utils._rebuild_tensor_v2" in result.globals
        assert result.dangerous == () and result.unknown == (), name


def test_unknown_globals_are_reported_separately(tmp_path):
    path = tmp_path / "training_args.bin"
    path.write_bytes(b"\x80\x02" + _global("transformers.training_args", "TrainingArguments") + b")\x81.")
    result = scan_pickle_file(path)
    assert result.unknown == ("transformers.training_args.TrainingArguments",) and result.dangerous == ()


def test_raw_bytes_and_forged_lengths_fail_fast_as_not_a_pickle(tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"\xd0" + os.urandom(4096))
    assert scan_pickle_file(raw).error.startswith("not a pickle")
    forged = tmp_path / "forged.bin"
    forged.write_bytes(b"\x80\x04\x8e" + (2**62).to_bytes(8, "little") + b"x")  # BINBYTES8 of 4 EiB
    start = time.monotonic()
    assert "past the end" in scan_pickle_file(forged).error
    assert time.monotonic() - start < 1


# --- the policy rules, through the CLI on the local hub -----------------------------------------------


def _lock(hub, project, ptm, repos: dict[str, dict[str, bytes]], policy: str = "", models: dict | None = None):
    for repo, files in repos.items():
        hub.commit(repo, files)
    write_manifest(project, models or {repo: {} for repo in repos}, extra=policy)
    r = ptm("lock")
    assert r.code == 0, r.err


def _card(license_id: str | None) -> bytes:
    return (b"---\nlicense: " + license_id.encode() + b"\n---\n") if license_id else b"# no card\n"


PICKLE_REPO = {"config.json": b"{}", "pytorch_model.bin": torch_zip(torch_style_state_dict()), "README.md": _card("mit")}
CODE_REPO = {**tiny_repo_files(), "modeling_custom.py": b"import os\n"}


@pytest.mark.parametrize(("rule", "repo", "allowed_by"), [
    ("pickle-weights", PICKLE_REPO, "allow-pickle = true"),
    ("pickle-weights", PICKLE_REPO, 'allow-pickle = ["org/m"]'),
    ("remote-code", CODE_REPO, "allow-remote-code = true"),
    ("remote-code", CODE_REPO, 'allow-remote-code = ["ORG/M"]'),
    ("license", {**tiny_repo_files(), "README.md": _card("cc-by-nc-4.0")}, 'licenses = ["cc-by-nc-4.0", "mit"]'),
])
def test_each_rule_fires_and_stays_quiet_when_allowed(hub, project, ptm, rule, repo, allowed_by):
    strict = '\n[policy]\nlicenses = ["mit", "apache-2.0"]\n' if rule == "license" else ""
    _lock(hub, project, ptm, {"org/m": repo}, policy=strict)
    r = ptm("audit")
    assert r.code == 1, r.err
    assert f"[{rule}] org/m: " in r.out
    assert "risk: " in r.out and "fix: " in r.out
    assert "1 finding in 1 of 1 model." in r.err

    write_manifest(project, {"org/m": {}}, extra=f"\n[policy]\n{allowed_by}\n")
    r = ptm("audit")
    assert (r.code, r.out) == (0, ""), r.out
    assert "No findings: 1 model pass the policy." in r.err


def test_gated_is_allowed_by_default_and_refused_by_policy(hub, project, ptm):
    hub.commit("org/gated", tiny_repo_files())
    hub.set_gated("org/gated", "manual")
    _lock(hub, project, ptm, {}, models={"org/gated": {}})
    assert ptm("audit").code == 0
    write_manifest(project, {"org/gated": {}}, extra="\n[policy]\nallow-gated = false\n")
    r = ptm("audit")
    assert r.code == 1
    assert "[gated] org/gated: the repository is gated (manual approval)" in r.out


def test_missing_license_fails_a_license_list(hub, project, ptm):
    _lock(hub, project, ptm, {"org/m": {**tiny_repo_files(), "README.md": _card(None)}},
          policy='\n[policy]\nlicenses = ["mit"]\n')
    r = ptm("audit")
    assert r.code == 1
    assert "[license] org/m: no license is recorded, so it is not in the allowed list (mit)." in r.out


def test_safetensors_alongside_pickle_passes_and_files_globs_count(hub, project, ptm):
    files = {**PICKLE_REPO, "model.safetensors": tiny_repo_files()["model.safetensors"]}
    _lock(hub, project, ptm, {"org/m": files})
    assert ptm("audit").code == 0
    # fetching only the pickle weights makes the model pickle-only for this project
    write_manifest(project, {"org/m": {"files": ["*.bin", "*.json"]}})
    assert ptm("lock").code == 0
    r = ptm("audit")
    assert r.code == 1 and "[pickle-weights] org/m: its weights exist only as pickle files (pytorch_model.bin)" in r.out


def test_audit_json_shape(hub, project, ptm):
    _lock(hub, project, ptm, {"org/m": CODE_REPO})
    r = ptm("audit", "--json")
    assert r.code == 1
    data = json.loads(r.out)
    assert data["deep"] is False and data["models"] == 1 and data["scanned"] == [] and data["not_synced"] == []
    assert data["policy"] == {"allow-gated": True, "allow-pickle": False, "allow-remote-code": False, "licenses": None}
    (finding,) = data["findings"]
    assert finding["rule"] == "remote-code" and finding["model"] == "org/m" and len(finding["commit"]) == 40
    assert set(finding) == {"rule", "model", "commit", "message", "risk", "fix", "file", "globals"}


# --- --deep on files in the Hugging Face cache -------------------------------------------------------


def _sync(hub, model: str, *paths: str) -> None:
    from huggingface_hub import hf_hub_download

    for path in paths:
        hf_hub_download(model, path, revision=hub.resolve(model))


def test_deep_reports_a_malicious_pickle_without_executing_it(hub, project, ptm):
    evil = pickle.dumps(_Evil(), protocol=2)
    _lock(hub, project, ptm, {"org/evil": {"pytorch_model.bin": evil, "config.json": b"{}"},
                              "org/good": PICKLE_REPO}, policy="\n[policy]\nallow-pickle = true\n")
    _sync(hub, "org/evil", "pytorch_model.bin")
    _sync(hub, "org/good", "pytorch_model.bin")
    assert ptm("audit").code == 0  # the lock alone cannot tell
    r = ptm("audit", "--deep")
    assert r.code == 1, r.err
    assert f"[pickle-code-execution] org/evil: pytorch_model.bin imports {os.name}.system when unpickled." in r.out
    assert "org/good" not in r.out
    assert "1 finding in 1 of 2 models. Scanned 2 cached pickle files." in r.err
    assert not (project / "marker").exists()
    # and in a fresh process, as a user would run it
    r = _sub(project, "audit", "--deep", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    data = json.loads(r.stdout)
    assert [(f["rule"], f["model"], f["file"], f["globals"]) for f in data["findings"]] == [
        ("pickle-code-execution", "org/evil", "pytorch_model.bin", [f"{os.name}.system"])]
    assert {s["model"]: s["globals"] for s in data["scanned"]}["org/good"] == [
        "collections.OrderedDict", "torch.FloatStorage", "torch._utils._rebuild_tensor_v2"]
    assert not (project / "marker").exists()


def test_deep_notes_pickles_not_synced(hub, project, ptm):
    _lock(hub, project, ptm, {"org/m": PICKLE_REPO}, policy="\n[policy]\nallow-pickle = true\n")
    r = ptm("audit", "--deep")
    assert r.code == 0
    assert "Scanned 0 cached pickle files. 1 pickle file not in the cache: run `ptmlock sync` to scan them." in r.err


def test_deep_unknown_globals_are_findings_unless_pickle_is_allowed(hub, project, ptm):
    args = b"\x80\x02" + _global("transformers.training_args", "TrainingArguments") + b")\x81."
    files = {**tiny_repo_files(), "training_args.bin": args}
    _lock(hub, project, ptm, {"org/m": files})
    _sync(hub, "org/m", "training_args.bin")
    r = ptm("audit", "--deep")
    assert r.code == 1
    assert "[pickle-unknown-global] org/m: training_args.bin imports transformers.training_args.TrainingArguments" in r.out
    write_manifest(project, {"org/m": {}}, extra='\n[policy]\nallow-pickle = ["org/m"]\n')
    assert ptm("audit", "--deep").code == 0


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "message"), [
    ('allow-pickle = "yes"',
     "'allow-pickle' in [policy] must be true, false or an array of model ids, not a string ('yes')."),
    ("allow-remote-code = [1]",
     "'allow-remote-code' in [policy] must be true, false or an array of model ids, not an array containing an "
     "integer (1)."),
    ('allow-gated = ["org/typo"]',
     "'allow-gated' in [policy] names 'org/typo', which is not a model of this project. Use the id as declared in "
     "[models]."),
    ('licenses = "mit"',
     "'licenses' in [policy] must be an array of license ids such as [\"apache-2.0\", \"mit\"], not a string ('mit')."),
])
def test_bad_policy_values_are_clear_errors(hub, project, policy, message):
    hub.commit("org/m", tiny_repo_files())
    write_manifest(project, {"org/m": {}})
    assert _sub(project, "lock").returncode == 0
    write_manifest(project, {"org/m": {}}, extra=f"\n[policy]\n\n{policy}\n")
    r = _sub(project, "audit")
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert r.stderr == f"error: {project / 'ptm.toml'}:8:1: {message}\n"


def test_no_lock_and_stale_lock_are_clear_errors(hub, project):
    hub.commit("org/m", tiny_repo_files())
    write_manifest(project, {"org/m": {}})
    r = _sub(project, "audit")
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert "ptm.lock does not exist, so `ptmlock audit` has no pinned models to work on. Run `ptmlock lock` to create it" in r.stderr
    assert _sub(project, "lock").returncode == 0
    write_manifest(project, {"org/m": {"revision": "v1"}})
    r = _sub(project, "audit", "--deep")
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert r.stderr == ("error: ptm.lock is stale against ptm.toml: org/m: requested is 'v1' in ptm.toml but unset in "
                        "ptm.lock. Run `ptmlock lock` to update it, then `ptmlock audit`.\n")

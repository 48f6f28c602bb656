"""`ptmlock audit`: the [policy] rules on ptm.lock, and `--deep` pickle scanning that never unpickles."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import zipfile

import pickle_battery as battery
import pytest
from lockhelpers import PY, tiny_repo_files, write_manifest


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
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
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


def test_deep_unknown_globals_are_findings_allow_pickle_does_not_silence(hub, project, ptm):
    args = b"\x80\x02" + _global("transformers.training_args", "TrainingArguments") + b")\x81."
    files = {**tiny_repo_files(), "training_args.bin": args}
    _lock(hub, project, ptm, {"org/m": files})
    _sync(hub, "org/m", "training_args.bin")
    r = ptm("audit", "--deep")
    assert r.code == 1
    assert "[pickle-unknown-global] org/m: training_args.bin imports transformers.training_args.TrainingArguments" in r.out
    assert 'set trust-pickle = true on [models."org/m"]' in r.out
    write_manifest(project, {"org/m": {}}, extra='\n[policy]\nallow-pickle = ["org/m"]\n')
    assert ptm("audit", "--deep").code == 1  # allow-pickle only silences pickle-weights (issue 12)
    # trust-pickle on the model accepts unknown globals, and only those
    write_manifest(project, {"org/m": {"trust-pickle": True}})
    r = ptm("audit", "--deep")
    assert r.code == 0, r.out


def test_deep_unknown_callables_fail_even_with_trust_pickle_unless_listed_by_name(hub, project, ptm, tmp_path):
    # issue 22 item 7: a callable outside the allow-list is possible code execution; trust-pickle = true
    # does not accept it; listing its exact name does, and the passed record says what was trusted
    from ptmlock.supply.pickles.passed import sha256_of, trusted_in

    odd = b"\x80\x02" + _global("_xxsubinterpreters", "create") + b")R."
    files = {**tiny_repo_files(), "state.bin": odd, "evil.bin": pickle.dumps(_Evil(), protocol=2)}
    _lock(hub, project, ptm, {"org/m": files})
    _sync(hub, "org/m", "state.bin", "evil.bin")
    write_manifest(project, {"org/m": {"trust-pickle": True}}, extra='\n[policy]\nallow-pickle = ["org/m"]\n')
    r = ptm("audit", "--deep")
    assert r.code == 1
    assert ("[pickle-code-execution] org/m: state.bin imports _xxsubinterpreters.create when unpickled: outside "
            "the allow-list and unknown to the scanner") in r.out
    assert 'trust-pickle = ["_xxsubinterpreters.create"]' in r.out
    write_manifest(project, {"org/m": {"trust-pickle": ["_xxsubinterpreters.create", f"{os.name}.system"]}},
                   extra='\n[policy]\nallow-pickle = ["org/m"]\n')
    r = _sub(project, "audit", "--deep", "--json")
    assert r.returncode == 1, r.stderr  # a known-dangerous global is never accepted, even by name
    assert {(f["rule"], f["file"]) for f in json.loads(r.stdout)["findings"]} == {
        ("pickle-code-execution", "evil.bin")}, r.stderr
    (tmp_path / "state.bin").write_bytes(odd)
    assert trusted_in(sha256_of(tmp_path / "state.bin")) == ("_xxsubinterpreters.create",)
    write_manifest(project, {"org/m": {"trust-pickle": ["not a name"]}})
    r = ptm("audit")
    assert r.code == 3 and "trust-pickle must be true, false or a list of exact global names" in r.err


def test_deep_reports_formats_beyond_pickles_with_their_own_rules(hub, project, ptm):
    import format_battery as formats

    files = {"model.gguf": formats._ssti("/nonexistent/ran"), "model.onnx": formats.onnx_model(location="../../x"),
             "saved_model.pb": formats.savedmodel("Const", "PyFunc"), "good.onnx": formats.onnx_model(),
             "config.json": b"{}"}
    _lock(hub, project, ptm, {"org/m": files})
    _sync(hub, "org/m", "model.gguf", "model.onnx", "saved_model.pb", "good.onnx")
    r = _sub(project, "audit", "--deep", "--format", "sarif")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    (run,) = json.loads(r.stdout)["runs"]
    assert sorted((x["ruleId"], x["properties"]["file"]) for x in run["results"]) == [
        ("gguf-template-code", "model.gguf"), ("onnx-external-data", "model.onnx"),
        ("tf-dangerous-op", "saved_model.pb")]


def test_deep_flags_every_battery_file_with_and_without_allow_pickle(hub, project, ptm, tmp_path):
    files = battery.write_malicious(tmp_path / "battery", tmp_path / "markers")
    repo = {name: path.read_bytes() for name, (_entry, path, _marker) in files.items()}
    _lock(hub, project, ptm, {"org/battery": {**repo, "config.json": b"{}"}})
    _sync(hub, "org/battery", *repo)
    for policy in ("", "\n[policy]\nallow-pickle = true\n"):
        write_manifest(project, {"org/battery": {}}, extra=policy)
        r = _sub(project, "audit", "--deep", "--json")
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        data = json.loads(r.stdout)
        flagged = {f["file"] for f in data["findings"] if f["rule"] in ("pickle-code-execution", "pickle-inconclusive")}
        assert flagged == set(repo), set(repo) - flagged
        assert {s["file"] for s in data["scanned"]} == set(repo)
    assert not any(marker.exists() for _e, _p, marker in files.values())


def test_deep_one_unreadable_file_does_not_hide_the_others(hub, project, ptm):
    # a malformed .npy header used to raise SyntaxError out of the scan: exit 70, every finding lost
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), (((\n"
    bad_npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x80\x02N."
    files = {"arr.npy": bad_npy, "pytorch_model.bin": pickle.dumps(_Evil(), protocol=2),
             "good.bin": torch_zip(torch_style_state_dict()), "config.json": b"{}"}
    _lock(hub, project, ptm, {"org/m": files}, policy="\n[policy]\nallow-pickle = true\n")
    _sync(hub, "org/m", "arr.npy", "pytorch_model.bin", "good.bin")
    r = _sub(project, "audit", "--deep", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    found = {(f["rule"], f["file"]) for f in json.loads(r.stdout)["findings"]}
    assert found == {("pickle-inconclusive", "arr.npy"), ("pickle-code-execution", "pytorch_model.bin")}, found


def test_deep_passes_real_checkpoints_and_records_them(hub, project, ptm, tmp_path):
    from ptmlock.supply.pickles.passed import has_passed, sha256_of

    names = ("torch_zip.pt", "torch_legacy.bin", "weights.npy", "weights.npz", "arrays.pkl")
    chosen = tuple(b for b in battery.BENIGN if b.name in names)
    work = tmp_path / "work"
    work.mkdir()
    repo = {b.name: b.build(work) for b in chosen}
    _lock(hub, project, ptm, {"org/real": {**repo, "config.json": b"{}"}}, policy="\n[policy]\nallow-pickle = true\n")
    _sync(hub, "org/real", *repo)
    r = ptm("audit", "--deep")
    assert (r.code, r.out) == (0, ""), r.out
    assert "No findings: 1 model pass the policy. Scanned 5 cached pickle files." in r.err
    for name, data in repo.items():
        (tmp_path / name).write_bytes(data)
        assert has_passed(sha256_of(tmp_path / name)) == (name not in ("weights.npy", "weights.npz")), name


def test_sarif_output_for_code_scanning(hub, project, ptm):
    evil = pickle.dumps(_Evil(), protocol=2)
    _lock(hub, project, ptm, {"org/evil": {"pytorch_model.bin": evil, "config.json": b"{}"}})
    _sync(hub, "org/evil", "pytorch_model.bin")
    r = _sub(project, "audit", "--deep", "--format", "sarif")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    log = json.loads(r.stdout)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "ptmlock"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert [(x["ruleId"], x["level"]) for x in run["results"]] == [
        ("pickle-weights", "warning"), ("pickle-code-execution", "error")]
    lock_lines = (project / "ptm.lock").read_text().splitlines()
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["message"]["text"].startswith("org/evil: ")
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "ptm.lock"
        assert '"org/evil"' in lock_lines[physical["region"]["startLine"] - 1]
        assert len(result["partialFingerprints"]["ptmlockFinding/v1"]) == 64
    assert run["results"][1]["properties"]["globals"] == [f"{os.name}.system"]
    assert _sub(project, "audit", "--json", "--format", "sarif").returncode == 2


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
    assert r.returncode == 3 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == f"error: {project / 'ptm.toml'}:8:1: {message}\n", r.stderr


def test_no_lock_and_stale_lock_are_clear_errors(hub, project):
    hub.commit("org/m", tiny_repo_files())
    write_manifest(project, {"org/m": {}})
    r = _sub(project, "audit")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "ptm.lock does not exist: no model is pinned yet. Run `ptmlock lock` to create it, then `ptmlock audit`." \
        in r.stderr, r.stderr
    assert _sub(project, "lock").returncode == 0
    write_manifest(project, {"org/m": {"revision": "v1"}})
    r = _sub(project, "audit", "--deep")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == ("error: ptm.lock is stale against ptm.toml: org/m: requested is 'v1' in ptm.toml but unset in "
                        "ptm.lock. Run `ptmlock lock` to update it, then `ptmlock audit`.\n"), r.stderr

"""`ptmlock export --format cyclonedx`: a CycloneDX 1.6 ML-BOM that validates and is deterministic."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid

import pytest

from lockhelpers import PY, tiny_repo_files, write_manifest

cyclonedx = pytest.importorskip("cyclonedx")
from cyclonedx.schema import SchemaVersion  # noqa: E402
from cyclonedx.validation.json import JsonStrictValidator  # noqa: E402
from packageurl import PackageURL  # noqa: E402


def _sub(project, *args, env=None):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def _validate(text: str) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)


@pytest.fixture
def locked(hub, project, ptm):
    """Two interchangeable encoders (one renamed upstream, one with custom code), a speech model and a
    dataset, all locked."""
    shas = {
        "Org/Bert-Tiny": hub.commit("Org/Bert-Tiny", tiny_repo_files("bert")),
        "org/roberta": hub.commit("org/roberta", {**tiny_repo_files("rob"), "modeling.py": b"# custom\n",
                                                  "README.md": b"---\nlicense: llama3\n---\n"}),
        "whisper": hub.commit("whisper", {"config.json": b"{}", "README.md": b"---\nlicense: apache-2.0\n---\n"}),
        "org/data": hub.commit("org/data", {"train.csv": b"a\n1\n", "README.md": b"---\nlicense: cc-by-4.0\n---\n"},
                               repo_type="dataset"),
    }
    write_manifest(project, {
        "Org/Bert-Tiny": {"role": "text-encoder"},
        "org/roberta": {"role": "text-encoder", "revision": "main"},
        "whisper": {"role": "speech"},
        "org/data": {"type": "dataset"},
    }, extra='\n[roles.text-encoder]\ndefault = "org/roberta"\n')
    assert ptm("lock").code == 0
    return shas


def test_export_validates_against_cyclonedx_1_6(hub, project, ptm, locked):
    r = ptm("export", "--format", "cyclonedx")
    assert r.code == 0, r.err
    _validate(r.out)
    bom = json.loads(r.out)
    assert (bom["bomFormat"], bom["specVersion"], bom["version"]) == ("CycloneDX", "1.6", 1)
    assert "timestamp" not in bom["metadata"]
    lock_sha = hashlib.sha256((project / "ptm.lock").read_bytes()).hexdigest()
    assert bom["metadata"]["component"]["properties"] == [{"name": "ptmlock:lock-sha256", "value": lock_sha}]
    assert uuid.UUID(bom["serialNumber"].removeprefix("urn:uuid:")).version == 5

    by_name = {c["name"]: c for c in bom["components"]}
    bert = by_name["Bert-Tiny"]
    sha = locked["Org/Bert-Tiny"]
    assert (bert["type"], bert["group"], bert["version"]) == ("machine-learning-model", "Org", sha)
    purl = PackageURL.from_string(bert["purl"])
    assert (purl.type, purl.namespace, purl.name, purl.version) == ("huggingface", "Org", "Bert-Tiny", sha)
    assert purl.qualifiers == {"repository_url": hub.endpoint.rstrip("/")}
    assert bert["bom-ref"] == bert["purl"]
    assert bert["licenses"] == [{"license": {"id": "MIT", "acknowledgement": "declared"}}]
    assert bert["modelCard"] == {"modelParameters": {"task": "fill-mask"}}
    props = {p["name"]: p["value"] for p in bert["properties"]}
    assert props["ptmlock:role"] == "text-encoder" and props["ptmlock:requested"] == "(default branch)"
    assert props["ptmlock:role-interchangeable"] == "true" and props["ptmlock:role-default"] == "false"
    assert props["ptmlock:hub"] == "huggingface"
    files = {f["name"]: f for f in bert["components"]}
    weights = tiny_repo_files("bert")["model.safetensors"]
    assert files["model.safetensors"]["type"] == "file"
    assert files["model.safetensors"]["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(weights).hexdigest()}]
    assert "hashes" not in files["config.json"]
    assert {"name": "ptmlock:git-blob", "value": hashlib.sha1(
        b"blob %d\0" % len(tiny_repo_files("bert")["config.json"]) + tiny_repo_files("bert")["config.json"]
    ).hexdigest()} in files["config.json"]["properties"]

    roberta = by_name["roberta"]
    assert roberta["licenses"] == [{"license": {"name": "llama3", "acknowledgement": "declared"}}]
    assert {"name": "ptmlock:custom-code", "value": "true"} in roberta["properties"]
    assert {"name": "ptmlock:role-default", "value": "true"} in roberta["properties"]
    whisper = by_name["whisper"]
    assert "group" not in whisper and PackageURL.from_string(whisper["purl"]).namespace is None
    data = by_name["data"]
    assert data["type"] == "data" and "purl" not in data and "modelCard" not in data
    assert data["externalReferences"][0]["url"].endswith(f"/datasets/org/data/tree/{locked['org/data']}")

    refs = sorted(c["bom-ref"] for c in bom["components"])
    project_deps = next(d for d in bom["dependencies"] if d["ref"] == "ptmlock-project")
    assert sorted(project_deps["dependsOn"]) == refs
    assert bom["compositions"] == [{"aggregate": "complete", "assemblies": [c["bom-ref"] for c in bom["components"]]}]


def test_export_is_deterministic_and_writes_atomically(hub, project, ptm, locked):
    first = ptm("export").out
    assert ptm("export").out == first
    r = ptm("export", "-o", "bom.json")
    assert r.code == 0 and r.out == "" and "Wrote bom.json (CycloneDX 1.6)." in r.err
    assert (project / "bom.json").read_text() == first
    assert [p.name for p in project.iterdir() if p.name.startswith(".bom")] == []
    # a new pin gives a new serial number
    hub.commit("whisper", {"config.json": b'{"v": 2}'})
    assert ptm("update", "whisper").code == 0
    assert json.loads(ptm("export").out)["serialNumber"] != json.loads(first)["serialNumber"]


def test_export_timestamp_is_opt_in_and_honours_source_date_epoch(hub, project, locked):
    r = _sub(project, "export", "--timestamp", env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert r.returncode == 0, r.stderr
    _validate(r.stdout)
    assert json.loads(r.stdout)["metadata"]["timestamp"] == "2023-11-14T22:13:20Z", r.stderr


def test_export_of_empty_lock_validates(project, ptm):
    write_manifest(project, {})
    assert ptm("lock").code == 0
    r = ptm("export")
    assert r.code == 0
    _validate(r.out)
    assert json.loads(r.out)["components"] == []


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "spdx"], "Error: --format spdx (SPDX 3.0 AI profile) is not supported yet; use --format cyclonedx."),
    (["--format", "xml"], "Error: unknown --format 'xml'; the supported format is cyclonedx."),
    (["-o", "missing/dir/bom.json"], "Invalid value for '-o' / '--output': cannot write missing/dir/bom.json: "
                                     "No such file or directory."),
])
def test_export_usage_errors(hub, project, locked, args, message):
    r = _sub(project, "export", *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert message in r.stderr, r.stderr


def test_export_without_or_with_stale_lock_fails_clearly(hub, project):
    hub.commit("org/m", tiny_repo_files())
    write_manifest(project, {"org/m": {}})
    r = _sub(project, "export")
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stdout == "", r.stderr
    assert "ptm.lock does not exist: no model is pinned yet." in r.stderr, r.stderr
    assert _sub(project, "lock").returncode == 0
    write_manifest(project, {"org/m": {"role": "x"}})
    r = _sub(project, "export", "-o", "bom.json")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "ptm.lock is stale against ptm.toml: org/m: role is 'x' in ptm.toml but unset in ptm.lock." in r.stderr, r.stderr
    assert not (project / "bom.json").exists()

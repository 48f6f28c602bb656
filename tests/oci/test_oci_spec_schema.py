"""What `ptmlock publish` pushes, checked against the CNCF ModelPack specification itself (issue 25):
the config blob against the spec's JSON schema, the manifest's and layers' media types against the
spec's list, and the layer annotations (path, file metadata, untested) against docs/annotations.md.
The spec files are copied in tests/data/modelpack/ (SOURCE.md names the commit)."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import requests
from lockhelpers import tiny_repo_files
from ocihelpers import locked_project

SPEC = Path(__file__).parent.parent / "data" / "modelpack"
ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}

FILES = {**tiny_repo_files(), "tokenizer.json": b'{"model": {}}', "modeling_tiny.py": b"X = 1\n",
         "data/eval.parquet": b"PAR1....PAR1", "kernels/attn.cu": b"// cuda\n", "odd.blob": b"?"}
KINDS = {"model.safetensors": "weight", "config.json": "weight.config", "tokenizer.json": "weight.config",
         "README.md": "doc", "modeling_tiny.py": "code", "data/eval.parquet": "dataset", "kernels/attn.cu": "code",
         "odd.blob": "weight.config", ".gitattributes": "weight.config"}


def test_published_artifact_validates_against_the_modelpack_spec(hub, registry, project, ptm):
    url = f"oci+http://{registry.host}/models"
    sha = locked_project(hub, project, ptm, {"org/tiny": FILES})["org/tiny"]
    r = ptm("publish", url, "--json")
    assert r.code == 0, r.err
    ref = json.loads(r.out)["models"][0]["reference"]
    repo, tag = ref.split("/", 1)[1].rsplit(":", 1)
    base = f"http://{registry.host}/v2/{repo}"
    manifest = requests.get(f"{base}/manifests/{tag}", headers=ACCEPT, timeout=10).json()

    spec_types = set(json.loads((SPEC / "media-types.json").read_text()))
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json" in spec_types
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json" in spec_types
    by_path = {}
    for layer in manifest["layers"]:
        assert layer["mediaType"] in spec_types, layer
        notes = layer["annotations"]
        path = notes["org.cncf.model.filepath"]
        by_path[path] = layer
        meta = json.loads(notes["org.cncf.model.file.metadata+json"])
        assert set(meta) == {"name", "mode", "uid", "gid", "size", "mtime", "typeflag"}
        assert meta["name"] == path.rsplit("/", 1)[-1] and meta["size"] == layer["size"]
        assert (meta["mode"], meta["uid"], meta["gid"], meta["typeflag"]) == (0o644, 0, 0, 48)
        assert meta["mtime"] == "1970-01-01T00:00:00Z"  # fixed: the same pin gives the same bytes
        assert notes["org.cncf.model.file.mediatype.untested"] in ("true", "false")
    assert {p: la["mediaType"].split("model.", 1)[1].removesuffix(".v1.raw") for p, la in by_path.items()} == KINDS
    guessed = {p for p, la in by_path.items() if la["annotations"]["org.cncf.model.file.mediatype.untested"] == "true"}
    assert guessed == {"odd.blob", ".gitattributes"}

    config = requests.get(f"{base}/blobs/{manifest['config']['digest']}", timeout=10).json()
    schema = json.loads((SPEC / "config-schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=str)
    assert not errors, [e.message for e in errors]
    assert config["config"] == {"format": "safetensors"}
    assert config["descriptor"]["licenses"] == ["MIT"]  # README's `license: mit`, as SPDX
    assert config["descriptor"]["sourceURL"] == f"https://huggingface.co/org/tiny/tree/{sha}"
    assert config["descriptor"]["revision"] == sha
    assert config["modelfs"]["diffIds"] == [la["digest"] for la in manifest["layers"]]


def test_the_schema_test_can_fail_a_non_spec_config():
    """The schema really constrains: ptmlock's former comma-joined format is a string (allowed), but
    an unknown key or a missing modelfs is not."""
    schema = json.loads((SPEC / "config-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors({"descriptor": {}, "config": {"formats": "bin"},
                                       "modelfs": {"type": "layers", "diffIds": ["sha256:" + "0" * 64]}}))
    assert list(validator.iter_errors({"descriptor": {}, "config": {}}))

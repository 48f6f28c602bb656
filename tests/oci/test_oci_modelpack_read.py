"""Reading what the ModelPack ecosystem writes (issue 25): tar, tar+gzip and tar+zstd layers of
every kind, the pre-v0.0.7 `cnai` names, artifacts under another tool's own tag (an explicit
reference in `[[source]]`), laid out exactly as modctl and KitOps' ModelPack mode push them, and
hostile tar layers (links, devices, climbing paths) refused with nothing placed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest
from lockhelpers import tiny_repo_files
from ocihelpers import CNCF, file_metadata, locked_project, new_cache, push_artifact, tar_bytes

FILES = {**tiny_repo_files(), "modeling_tiny.py": b"# code\nX = 1\n", "data/train.csv": b"a,b\n1,2\n"}
KIND = {"model.safetensors": "weight", "config.json": "weight.config", "README.md": "doc",
        "modeling_tiny.py": "code", "data/train.csv": "dataset"}


# the files a tool packs from a downloaded repo (LocalHub's commit also holds a .gitattributes)
ONLY = {"files": ["*.safetensors", "*.json", "*.md", "*.py", "*.csv"]}


def _source(registry, ref: str, namespace: str = "mlops") -> str:
    return (f'\n[[source]]\nname = "corp"\nurl = "oci+http://{registry.host}/{namespace}"\n'
            f'models = {{ "org/tiny" = "{ref}" }}\n')


def _sync_from(ptm, tmp_path, monkeypatch, hub, name="node"):
    cache = new_cache(tmp_path, monkeypatch, name)
    hub.reset_requests()
    r = ptm("sync", "--source", "corp")
    return r, cache


def _modctl_layers(compress: str = "", prefix: str = CNCF):
    """modctl's build: one tar layer per file, the header named by the path relative to the
    workspace (FileInfoHeader: mode, uid/gid, mtime), the path and the file's metadata annotated."""
    suffix = {"": "tar", "gzip": "tar+gzip", "zstd": "tar+zstd"}[compress]
    return [(f"{prefix}.{KIND[path]}.v1.{suffix}", tar_bytes([(path, data)], compress=compress),
             {"org.cncf.model.filepath": path, "org.cncf.model.file.metadata+json": file_metadata(
                 path.rsplit("/", 1)[-1], data)})
            for path, data in sorted(FILES.items())]


@pytest.mark.parametrize("compress", ["", "gzip", "zstd"], ids=["tar", "tar+gzip", "tar+zstd"])
def test_modctl_tar_layers_of_every_kind_are_unpacked_and_checked(hub, registry, project, ptm, tmp_path,
                                                                   monkeypatch, compress):
    if compress == "zstd":
        pytest.importorskip("zstandard", reason="the zstd layers need ptmlock[oci-zstd] (zstandard)")
    sha = locked_project(hub, project, ptm, {"org/tiny": FILES}, fields=ONLY, extra=_source(registry, "mlops/tiny:v1"))["org/tiny"]
    config = json.dumps({"descriptor": {"name": "tiny", "sourceURL": "https://example.invalid/tiny",
                                        "revision": sha, "createdAt": "2025-01-01T00:00:00Z"},
                         "config": {"format": "safetensors"}, "modelfs": {"type": "layers", "diffIds": []}}).encode()
    push_artifact(registry, "mlops/tiny", "v1", _modctl_layers(compress), config=config)
    r, cache = _sync_from(ptm, tmp_path, monkeypatch, hub)
    assert r.code == 0, r.err
    assert hub.count("GET", "/org/tiny/resolve/") == 0  # every byte from the registry
    snap = cache / "models--org--tiny" / "snapshots" / sha
    for path, data in FILES.items():
        assert (snap / path).read_bytes() == data
    assert not list((cache / "models--org--tiny").glob("blobs/*.incomplete"))
    assert ptm("verify", "--deep").code == 0


def test_kitops_model_pack_folder_layer_with_gzip_and_untested_types(hub, registry, project, ptm, tmp_path,
                                                                     monkeypatch):
    """KitOps `--use-model-pack`: a Kitfile's folder is one tar layer (folder entries included,
    names relative to the context), the doc its own layer; types guessed, so `untested`."""
    sha = locked_project(hub, project, ptm, {"org/tiny": FILES}, fields=ONLY, extra=_source(registry, "mlops/tiny:latest"))["org/tiny"]
    model = [(".", None), ("./data", None)] + [(f"./{p}", d) for p, d in sorted(FILES.items()) if p != "README.md"]
    layers = [
        (f"{CNCF}.weight.v1.tar+gzip", tar_bytes(model, compress="gzip"),
         {"org.cncf.model.filepath": ".", "org.cncf.model.file.mediatype.untested": "true"}),
        (f"{CNCF}.doc.v1.tar", tar_bytes([("README.md", FILES["README.md"])]),
         {"org.cncf.model.filepath": "README.md", "org.cncf.model.file.mediatype.untested": "true",
          "org.cncf.model.file.metadata+json": file_metadata("README.md", FILES["README.md"])}),
    ]
    push_artifact(registry, "mlops/tiny", "latest", layers)
    r, cache = _sync_from(ptm, tmp_path, monkeypatch, hub)
    assert r.code == 0, r.err
    assert hub.count("GET", "/org/tiny/resolve/") == 0
    assert (cache / "models--org--tiny" / "snapshots" / sha / "data" / "train.csv").read_bytes() == FILES["data/train.csv"]
    assert ptm("verify", "--deep").code == 0


def test_pre_v007_cnai_names_are_read(hub, registry, project, ptm, tmp_path, monkeypatch):
    sha = locked_project(hub, project, ptm, {"org/tiny": FILES}, fields=ONLY, extra=_source(registry, "mlops/tiny:old"))["org/tiny"]
    old = "application/vnd.cnai.model"
    layers = [(f"{old}.{KIND[p]}.v1.raw", d, {"org.cnai.model.filepath": p}) for p, d in sorted(FILES.items())]
    digest = push_artifact(registry, "mlops/tiny", "old", layers, artifact_type=f"{old}.manifest.v1+json",
                           config_type=f"{old}.config.v1+json")
    r, cache = _sync_from(ptm, tmp_path, monkeypatch, hub)
    assert r.code == 0, r.err
    assert (cache / "models--org--tiny" / "snapshots" / sha / "model.safetensors").read_bytes() == \
        FILES["model.safetensors"]
    # the same artifact by digest
    (project / "ptm.toml").write_text((project / "ptm.toml").read_text().replace("mlops/tiny:old", f"mlops/tiny@{digest}"))
    r, cache = _sync_from(ptm, tmp_path, monkeypatch, hub, "node2")
    assert r.code == 0, r.err
    assert f"GET /v2/mlops/tiny/manifests/{digest}" in registry.log.read_text()
    assert (cache / "models--org--tiny" / "snapshots" / sha / "config.json").read_bytes() == FILES["config.json"]


def _symlink(info):
    info.type, info.linkname, info.size = tarfile.SYMTYPE, "/etc/passwd", 0


def _device(info):
    info.type, info.size = tarfile.CHRTYPE, 0


@pytest.mark.parametrize("attack", ["symlink", "device", "climbing", "other-bytes", "bomb"])
def test_hostile_tar_layers_are_exit_5_and_nothing_is_placed_or_written_outside(hub, registry, project, ptm, tmp_path,
                                                                                monkeypatch, attack):
    sha = locked_project(hub, project, ptm, {"org/tiny": FILES}, fields=ONLY, extra=_source(registry, "mlops/tiny:bad"))["org/tiny"]
    weights = FILES["model.safetensors"]
    entry = {"symlink": [("model.safetensors", weights, _symlink)],
             "device": [("model.safetensors", weights, _device)],
             "climbing": [("../../../escaped-model.safetensors", weights), ("model.safetensors", weights)],
             "other-bytes": [("model.safetensors", weights[:-1] + b"!")],
             # 65 MiB of zeros (64 KiB gzipped) before the file: more than the model's files and then some
             "bomb": [("junk.bin", bytes(65 * 1024 * 1024)), ("model.safetensors", weights)]}[attack]
    kind = "tar+gzip" if attack == "bomb" else "tar"
    layers = [(f"{CNCF}.weight.v1.{kind}", tar_bytes(entry, compress="gzip" if attack == "bomb" else ""),
               {"org.cncf.model.filepath": "model.safetensors"})]
    layers += [(f"{CNCF}.{KIND[p]}.v1.raw", d, {"org.cncf.model.filepath": p}) for p, d in FILES.items()
               if p != "model.safetensors"]
    push_artifact(registry, "mlops/tiny", "bad", layers)
    r, cache = _sync_from(ptm, tmp_path, monkeypatch, hub)
    assert r.code == 5, r.err
    assert "Traceback" not in r.err
    expected = {"symlink": "which is a symbolic link", "device": "which is a device",
                "climbing": "a path outside the model folder", "other-bytes": "failed its integrity check",
                "bomb": "ptmlock reads no further"}[attack]
    assert expected in r.err and "model.safetensors" in r.err, r.err
    assert not (cache / "models--org--tiny" / "snapshots" / sha / "model.safetensors").exists()
    assert not list(tmp_path.rglob("escaped-*")) and not list(cache.rglob("*.incomplete"))


def test_a_zstd_layer_without_zstandard_is_exit_3_naming_the_pip_command(hub, registry, project, ptm, tmp_path):
    locked_project(hub, project, ptm, {"org/tiny": FILES}, fields=ONLY, extra=_source(registry, "mlops/tiny:z"))
    # a zstd layer needs no real zstd bytes to be refused before it is read
    layers = [(f"{CNCF}.{KIND[p]}.v1.tar+zstd", b"\x28\xb5\x2f\xfd not read", {"org.cncf.model.filepath": p})
              for p in FILES]
    push_artifact(registry, "mlops/tiny", "z", layers)
    script = ("import sys; sys.modules['zstandard'] = None\n"  # as if ptmlock[oci-zstd] were not installed
              "from ptmlock.cli import main\nraise SystemExit(main(['sync', '--source', 'corp']))\n")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "fresh"), "HF_HOME": str(tmp_path / "fresh-home")}
    p = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True, env=env,
                       timeout=120, check=False)
    assert p.returncode == 3, p.stderr
    assert "pip install 'ptmlock[oci-zstd]'" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_an_explicit_reference_that_is_not_one_is_exit_3(project, ptm):
    from lockhelpers import write_manifest

    write_manifest(project, {}, extra='\n[[source]]\nname = "corp"\nurl = "oci+http://127.0.0.1:5/m"\n'
                                      'models = { "org/tiny" = "Team/Bert" }\n')
    r = ptm("lock")
    assert r.code == 3
    assert "models.'org/tiny': 'Team/Bert' is not a reference in the registry; write REPOSITORY:TAG" in r.err, r.err

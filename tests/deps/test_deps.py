"""Transitive model dependencies (issue 7): found at lock time, locked with `required-by` and
`reason`, re-used without requests, and enforced by the guard through real libraries."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from lockhelpers import PY, model_entry, read_lock, write_manifest
from tinymodels import last_json, run_app, tiny  # noqa: F401  (tiny: the session fixture)


def _sub(project, *args):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)


def plain(tag="1"):
    return {"config.json": json.dumps({"model_type": "bert", "tag": tag}), "model.safetensors": b"w" * 64 + tag.encode()}


def adapter(base, revision=None):
    return {"adapter_config.json": json.dumps({"base_model_name_or_path": base, "revision": revision,
                                               "peft_type": "LORA"}),
            "adapter_model.safetensors": b"a" * 32}


def remote_code(code_repo):
    return {"config.json": json.dumps({"model_type": "tiny", "auto_map": {
        "AutoConfig": f"{code_repo}--configuration.TinyConfig", "AutoModel": f"{code_repo}--modeling.TinyModel",
        "AutoTokenizer": [f"{code_repo}--tokenization.Tok", None]}}),
        "model.safetensors": b"m" * 16}


def code(version="1"):
    return {"configuration.py": f"V = {version}\n", "modeling.py": f"V = {version}\n"}


def deps_of(lock):
    return {m["id"]: (m["required-by"], m["reason"], m.get("requested")) for m in lock["model"] if "required-by" in m}


# --- locking ---------------------------------------------------------------------------------------


def test_peft_base_model_is_locked_with_its_own_pin_required_by_and_reason(hub, project, ptm):
    v1 = hub.commit("org/base", plain("1"))
    hub.create_tag("org/base", "v1", revision=v1)
    hub.commit("org/base", plain("2"))
    hub.commit("org/adapter", adapter("org/base", "v1"))
    write_manifest(project, {"org/adapter": {"role": "tuned"}})
    r = ptm("lock")
    assert r.code == 0, r.err
    lock = read_lock(project)
    base = model_entry(lock, "org/base")
    assert (base["commit"], base["requested"], base["required-by"], base["reason"]) == \
        (v1, "v1", ["org/adapter"], "peft base model")
    assert "role" not in base and {f["path"] for f in base["files"]} >= {"config.json", "model.safetensors"}
    assert "required-by" not in model_entry(lock, "org/adapter")


def test_relock_reuses_dependency_pins_with_zero_requests_until_the_parent_moves(hub, project, ptm):
    first = hub.commit("org/base", plain("1"))
    hub.commit("org/adapter", adapter("org/base"))
    write_manifest(project, {"org/adapter": {}})
    assert ptm("lock").code == 0
    second = hub.commit("org/base", plain("2"))  # upstream moves: the pin must not
    write_manifest(project, {"org/adapter": {"role": "tuned"}})  # not the no-op fast path
    hub.reset_requests()
    assert ptm("lock").code == 0
    assert hub.requests == []
    assert model_entry(read_lock(project), "org/base")["commit"] == first
    assert ptm("lock", "--check").code == 0 and hub.requests == []
    hub.commit("org/adapter", {"README.md": "moved"})
    r = ptm("lock", "--upgrade", "org/adapter")
    assert r.code == 0, r.err
    assert model_entry(read_lock(project), "org/base")["commit"] == second
    assert f"  org/base: {first[:12]} -> {second[:12]}" in r.err


def test_models_without_dependency_files_cost_no_file_request(hub, project, ptm):
    hub.commit("org/w", {"model.safetensors": b"x" * 8, "README.md": "# w"})
    write_manifest(project, {"org/w": {}})
    assert ptm("lock").code == 0
    assert hub.count(path_contains="/resolve/") == 0 and len(read_lock(project)["model"]) == 1


@pytest.mark.parametrize("mirror_mode", ["full", "partial"])
def test_auto_map_code_is_found_from_repo_info_or_by_reading_config_json(hub, project, ptm, mirror_mode):
    # The Hub's repo info summarises config.json (`config.auto_map`): no download is needed. A
    # mirror that leaves it out costs one read of config.json.
    hub.commit("org/code", code())
    hub.commit("org/base", remote_code("org/code"))
    hub.mirror_mode = mirror_mode
    write_manifest(project, {"org/base": {}})
    assert ptm("lock").code == 0
    assert deps_of(read_lock(project)) == {"org/code": (["org/base"], "auto_map code", None)}
    reads = hub.count(path_contains="/org/base/resolve/")
    assert reads == (0 if mirror_mode == "full" else 2)  # HEAD + GET of config.json


def test_nested_and_shared_dependencies(hub, project, ptm):
    hub.commit("org/code", code())
    hub.commit("org/base", remote_code("org/code"))
    hub.commit("org/a1", adapter("org/base"))
    hub.commit("org/a2", adapter("org/base", "main"))
    write_manifest(project, {"org/a1": {}, "org/a2": {}})
    assert ptm("lock").code == 0
    assert deps_of(read_lock(project)) == {
        "org/base": (["org/a1", "org/a2"], "peft base model", None),
        "org/code": (["org/base"], "auto_map code", None),
    }


def test_reasons_are_kept_per_parent_across_incremental_relocks(hub, project, ptm):
    hub.commit("org/base", {**plain(), **code()})
    hub.commit("org/adapter", adapter("org/base"))
    hub.commit("org/custom", remote_code("org/base"))
    write_manifest(project, {"org/adapter": {}, "org/custom": {}})
    assert ptm("lock").code == 0
    assert deps_of(read_lock(project))["org/base"] == (
        ["org/adapter", "org/custom"], "auto_map code (org/custom); peft base model (org/adapter)", None)
    tree = ptm("tree").out
    assert "└── org/base  default branch @" in tree and "(peft base model)\n" in tree and "(auto_map code) (*)" in tree
    hub.commit("org/custom", {"config.json": json.dumps({"model_type": "bert"})})  # no longer needs org/base
    assert ptm("lock", "--upgrade", "org/custom").code == 0
    assert deps_of(read_lock(project)) == {"org/base": (["org/adapter"], "peft base model", None)}


def test_diffusers_components_custom_pipeline_and_sentence_transformers_modules(hub, project, ptm):
    te = hub.commit("org/te", plain())
    hub.create_tag("org/te", "v1", revision=te)
    hub.commit("org/unet", plain())
    hub.commit("org/pipe-code", {"pipeline.py": "class MyPipe: ...\n"})
    hub.commit("org/st-code", {"custom.py": "class Module: ...\n"})
    hub.commit("org/pipe", {
        "model_index.json": json.dumps({"_class_name": ["org/pipe-code", "MyPipe"], "scheduler": ["diffusers", "S"]}),
        "modular_model_index.json": json.dumps({
            "_class_name": "ModularPipeline",
            "text_encoder": ["transformers", "CLIPTextModel", {"pretrained_model_name_or_path": "org/te",
                                                               "subfolder": "text_encoder", "revision": "v1"}],
            "unet": ["diffusers", "UNet2DModel", {"repo": "org/unet", "subfolder": "unet"}],
            "vae": ["diffusers", "AutoencoderKL", {"pretrained_model_name_or_path": "org/pipe", "subfolder": "vae"}],
        })})
    hub.commit("org/st", {"modules.json": json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "org/not-a-repo", "type": "org/st-code--custom.Module"}])})
    write_manifest(project, {"org/pipe": {}, "org/st": {}})
    r = ptm("lock")
    assert r.code == 0, r.err
    assert deps_of(read_lock(project)) == {
        "org/pipe-code": (["org/pipe"], "diffusers custom_pipeline", None),
        "org/te": (["org/pipe"], "diffusers component text_encoder", "v1"),
        "org/unet": (["org/pipe"], "diffusers component unet", None),
        "org/st-code": (["org/st"], "sentence-transformers module 1", None),
    }


def test_declared_model_that_is_also_a_dependency_stays_declared(hub, project, ptm):
    hub.commit("org/base", plain())
    hub.commit("org/adapter", adapter("org/base"))
    write_manifest(project, {"org/adapter": {}, "org/base": {"role": "enc"}})
    assert ptm("lock").code == 0
    lock = read_lock(project)
    assert [m["id"] for m in lock["model"]] == ["org/adapter", "org/base"] and deps_of(lock) == {}
    # dropping it from ptm.toml makes it a dependency (its parent's files are read again), at the same pin
    pin = model_entry(lock, "org/base")["commit"]
    hub.commit("org/base", plain("2"))
    write_manifest(project, {"org/adapter": {}})
    hub.reset_requests()
    assert ptm("lock").code == 0
    assert deps_of(read_lock(project)) == {"org/base": (["org/adapter"], "peft base model", None)}
    assert model_entry(read_lock(project), "org/base")["commit"] == pin and hub.count(path_contains="/api/") == 0


def test_dependency_at_a_revision_the_declared_entry_does_not_pin_is_refused(hub, project, ptm):
    sha = hub.commit("org/base", plain())
    hub.create_tag("org/base", "v2", revision=sha)
    hub.commit("org/adapter", adapter("org/base", "v2"))
    write_manifest(project, {"org/adapter": {}, "org/base": {}})
    r = ptm("lock")
    assert r.code == 3
    assert r.err == (
        "error: 'org/adapter' needs 'org/base' at revision 'v2' (peft base model, in adapter_config.json), but "
        f"ptm.toml declares 'org/base' at the default branch (locked at {sha[:12]}), so that load would contradict "
        "the lock. Declare it at the revision 'org/adapter' needs (`ptmlock add org/base@v2`), or remove it from "
        "ptm.toml and let ptmlock lock it as a dependency of 'org/adapter'.\n")
    assert not (project / "ptm.lock").exists()


def test_two_models_needing_one_repo_at_different_revisions_is_refused(hub, project, ptm):
    sha = hub.commit("org/base", plain())
    hub.create_tag("org/base", "v1", revision=sha)
    hub.commit("org/a1", adapter("org/base", "v1"))
    hub.commit("org/a2", adapter("org/base"))
    write_manifest(project, {"org/a1": {}, "org/a2": {}})
    r = ptm("lock")
    assert r.code == 3
    assert "error: 'org/base' is needed at two revisions: revision 'v1' by 'org/a1' (peft base model, in " \
           "adapter_config.json) and the default branch by 'org/a2' (peft base model, in adapter_config.json)." in r.err


def test_cycle_is_a_clear_error_and_leaves_the_files_alone(hub, project):
    hub.commit("org/a", remote_code("org/b"))
    hub.commit("org/b", plain())
    write_manifest(project, {"org/a": {}})
    assert _sub(project, "lock").returncode == 0
    before = {name: (project / name).read_bytes() for name in ("ptm.toml", "ptm.lock")}
    hub.commit("org/b", remote_code("org/c"))
    hub.commit("org/c", adapter("org/a"))
    r = _sub(project, "lock", "--upgrade")
    assert r.returncode == 3, r.stderr
    assert r.stderr == (
        "error: Dependency cycle: 'org/a', which needs 'org/b' (auto_map code, in config.json), which needs 'org/c' "
        "(auto_map code, in config.json), which needs 'org/a' (peft base model, in adapter_config.json). Models "
        "cannot need each other in a loop, so ptmlock cannot lock them. Fix the reference in one of these repos, or "
        "pin one of them (`revision` in ptm.toml) to a commit that does not need the next.\n"), r.stderr
    assert {name: (project / name).read_bytes() for name in before} == before


def test_missing_dependency_names_the_parent_and_the_file(hub, project):
    hub.commit("org/adapter", adapter("org/nope"))
    write_manifest(project, {"org/adapter": {}})
    before = (project / "ptm.toml").read_bytes()
    r = _sub(project, "lock")
    assert r.returncode == 4, r.stderr
    assert r.stderr == (
        "error: 'org/adapter' needs model 'org/nope' at the default branch (peft base model, in adapter_config.json), "
        "but the hub has no such model (or hides it from this token). Fix the reference in 'org/adapter' or pin "
        "'org/adapter' to a revision that names an existing model; if the model is private, set HF_TOKEN to a token "
        "that can read it.\n"), r.stderr
    assert not (project / "ptm.lock").exists() and (project / "ptm.toml").read_bytes() == before


def test_removed_parent_drops_its_dependencies_and_the_guard_stops_allowing_them(hub, project, ptm):
    from ptmlock.lockfile.read import load_lock
    from ptmlock.manifest.parse import load_manifest
    from ptmlock.pins import build_index
    from ptmlock.decide import Request

    hub.commit("org/code", code())
    hub.commit("org/base", remote_code("org/code"))
    hub.commit("org/adapter", adapter("org/base"))
    hub.commit("org/other", plain())
    write_manifest(project, {"org/adapter": {}, "org/other": {}})
    assert ptm("lock").code == 0
    lock = load_lock(project / "ptm.lock")
    index = build_index(load_manifest(project / "ptm.toml"), lock)
    assert index.find(Request("org/code")).commit == lock.get("org/code").commit  # allowed through org/base
    write_manifest(project, {"org/other": {}})  # the parent is gone; ptm.lock not re-locked yet
    index = build_index(load_manifest(project / "ptm.toml"), lock)
    assert index.find(Request("org/base")) is None and index.find(Request("org/code")) is None
    assert ptm("lock").code == 0
    assert [m["id"] for m in read_lock(project)["model"]] == ["org/other"]


def test_remove_drops_dependencies_no_remaining_model_needs(hub, project, ptm):
    hub.commit("org/code", code())
    hub.commit("org/base", remote_code("org/code"))
    hub.commit("org/adapter", adapter("org/base"))
    hub.commit("org/adapter2", adapter("org/base"))
    write_manifest(project, {"org/adapter": {}, "org/adapter2": {}})
    assert ptm("lock").code == 0
    assert ptm("remove", "org/adapter").code == 0
    assert deps_of(read_lock(project)) == {
        "org/base": (["org/adapter2"], "peft base model", None),
        "org/code": (["org/base"], "auto_map code", None),
    }
    assert ptm("lock", "--check").code == 0
    assert ptm("remove", "org/adapter2").code == 0
    assert "model" not in read_lock(project)


def test_gated_model_is_locked_without_reading_its_files(hub, project):
    hub.commit("org/gated", adapter("org/base"))
    hub.set_gated("org/gated", True)
    write_manifest(project, {"org/gated": {}})
    r = _sub(project, "lock")
    assert r.returncode == 0, r.stderr
    assert [m["id"] for m in read_lock(project)["model"]] == ["org/gated"]


# --- the guard, through the real libraries ------------------------------------------------------------

CONFIG_PY = '''from transformers import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "tiny-remote"

    def __init__(self, width=4, **kwargs):
        self.width = width
        super().__init__(**kwargs)
'''

MODELING_PY = '''import torch
from transformers import PreTrainedModel

from .configuration_tiny import TinyConfig


class TinyModel(PreTrainedModel):
    config_class = TinyConfig
    CODE_VERSION = {version}

    def __init__(self, config):
        super().__init__(config)
        self.lin = torch.nn.Linear(config.width, config.width)
        self.post_init()

    def forward(self, x):
        return self.lin(x)
'''

GUARDED_APP = """
import json

import ptmlock.enforce
import transformers.dynamic_module_utils as dmu
from diffusers import UNet2DModel
from diffusers.modular_pipelines import ComponentSpec, ModularPipeline, ModularPipelineBlocks
from peft import AutoPeftModel
from transformers import AutoModel

code_revisions = []
_fetch = dmu.get_cached_module_file


def spy(repo, module_file, *args, **kwargs):
    code_revisions.append([repo, module_file, kwargs.get("revision")])
    return _fetch(repo, module_file, *args, **kwargs)


dmu.get_cached_module_file = spy


class Blocks(ModularPipelineBlocks):
    expected_components = property(lambda self: [ComponentSpec("unet", UNet2DModel)])
    inputs = property(lambda self: [])
    intermediate_outputs = property(lambda self: [])

    def __call__(self, components, state):
        return components, state


def load():
    tuned = AutoPeftModel.from_pretrained("org/adapter")
    custom = AutoModel.from_pretrained("org/custom", trust_remote_code=True)
    pipe = ModularPipeline(blocks=Blocks(), pretrained_model_name_or_path="org/modular")
    pipe.load_components(names=["unet"])
    return {"base": tuned.base_model.model.embeddings.LayerNorm.bias[0].item(), "code": type(custom).CODE_VERSION,
            "unet": pipe.unet.conv_out.bias[0].item()}


out = {"guarded": load(), "code_revisions": code_revisions}
with ptmlock.enforce.disabled():
    out["unguarded"] = load()
print(json.dumps(out))
"""


@pytest.mark.ml
def test_dependencies_load_pinned_through_peft_transformers_and_diffusers(hub, tiny, project, tmp_path):
    """A peft adapter's base model, cross-repo `auto_map` code and a diffusers (modular) pipeline's
    component in another repo are locked through the model that needs them; after each dependency's
    `main` moved, the strict-mode program still gets the locked bytes, and transformers gets the
    code repo's locked commit as `code_revision`."""
    import torch
    from safetensors.torch import save_file

    hub.commit("org/base", tiny.files("bert", 1.0))
    hub.commit("org/adapter", tiny.files("lora", 1.0, "org/base"))
    code_v1 = hub.commit("org/code", {"configuration_tiny.py": CONFIG_PY,
                                      "modeling_tiny.py": MODELING_PY.format(version=1)})
    save_file({"lin.weight": torch.ones(4, 4), "lin.bias": torch.zeros(4)}, str(tmp_path / "w.safetensors"))
    hub.commit("org/custom", {"config.json": json.dumps({
        "model_type": "tiny-remote", "width": 4, "architectures": ["TinyModel"],
        "auto_map": {"AutoConfig": "org/code--configuration_tiny.TinyConfig",
                     "AutoModel": "org/code--modeling_tiny.TinyModel"}}),
        "model.safetensors": (tmp_path / "w.safetensors").read_bytes()})
    hub.commit("org/ddpm", tiny.files("ddpm", 1.0))
    hub.commit("org/modular", {"modular_model_index.json": json.dumps({
        "_class_name": "ModularPipeline", "_diffusers_version": "0.42.1",
        "unet": ["diffusers", "UNet2DModel", {"pretrained_model_name_or_path": "org/ddpm", "subfolder": "unet",
                                             "revision": None, "variant": None,
                                             "type_hint": ["diffusers", "UNet2DModel"]}]})})
    write_manifest(project, {"org/adapter": {}, "org/custom": {}, "org/modular": {}})
    assert _sub(project, "lock").returncode == 0
    assert deps_of(read_lock(project)) == {
        "org/base": (["org/adapter"], "peft base model", None),
        "org/code": (["org/custom"], "auto_map code", None),
        "org/ddpm": (["org/modular"], "diffusers component unet", None),
    }
    hub.commit("org/base", tiny.files("bert", 2.0))
    hub.commit("org/code", {"modeling_tiny.py": MODELING_PY.format(version=2)})
    hub.commit("org/ddpm", tiny.files("ddpm", 2.0))
    out = last_json(run_app(project, GUARDED_APP, env={"PTMLOCK_MODE": "strict"}))
    assert out["guarded"] == {"base": 1.0, "code": 1, "unet": 1.0}
    assert out["unguarded"] == {"base": 2.0, "code": 2, "unet": 2.0}  # main did move
    assert [r for r in out["code_revisions"] if r[1] == "modeling_tiny.py"][0] == ["org/code", "modeling_tiny.py",
                                                                                   code_v1]

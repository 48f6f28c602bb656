"""Model ids named outside `.py` files (notebooks, configs, shell scripts, Makefiles, Dockerfiles),
through the real CLI: scan, check (text, json, sarif) and init --from-code."""
from __future__ import annotations

import json
import textwrap

import pytest

from lockhelpers import write_manifest


def _notebook(*cells: tuple[str, str]) -> str:
    return json.dumps({"cells": [{"cell_type": kind, "metadata": {}, "source": src.splitlines(keepends=True),
                                  **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                                 for kind, src in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


FILES = {
    "explore.ipynb": _notebook(
        ("markdown", "# Loads `org/in-markdown` nowhere"),
        ("code", "%pip install transformers\nfrom transformers import AutoModel\n"
                 "m = AutoModel.from_pretrained('org/nb-model')\n!hf download org/nb-shell"),
    ),
    "configs/train.yaml": textwrap.dedent("""\
        model_name_or_path: org/yaml-model
        tokenizer_name: "gpt2"
        model_type: bert
        output_dir: ./out
        args: ["--model_name_or_path", "org/yaml-args", "--model_type", "gpt_neox"]
        command:
          - python
          - --model_name_or_path
          - org/yaml-block
        """),
    "configs/peft.json": json.dumps({"base_model_name_or_path": "org/json-base", "r": 8}, indent=2),
    "configs/run.toml": 'model_id = "org/toml-model"\nlr = 0.1\n',
    "scripts/train.sh": textwrap.dedent("""\
        #!/bin/sh
        hf download org/sh-download --revision v2
        huggingface-cli download org/sh-dataset --repo-type dataset
        python train.py --model_name_or_path=org/sh-flag --output_dir out
        python -c "from transformers import AutoModel; AutoModel.from_pretrained('org/sh-python-c')"
        python x.py --model $MODEL --model_path ./local/model
        """),
    "Makefile": "train:\n\tpython train.py --model_name_or_path org/make-model\n",
    "Dockerfile": "FROM python:3.11\nRUN hf download org/docker-model  # ptmlock: ignore\n",
}
EXPECTED = {  # id -> (location, loader)
    "org/nb-model": ("explore.ipynb:cell 2:3:5", "transformers.AutoModel.from_pretrained"),
    "org/nb-shell": ("explore.ipynb:cell 2:4:14", "hf download"),
    "org/yaml-model": ("configs/train.yaml:1:21", "config:model_name_or_path"),
    "openai-community/gpt2": ("configs/train.yaml:2:18", "config:tokenizer_name"),
    "org/yaml-args": ("configs/train.yaml:5:32", "config:--model_name_or_path"),
    "org/yaml-block": ("configs/train.yaml:9:5", "config:--model_name_or_path"),
    "org/json-base": ("configs/peft.json:2:31", "config:base_model_name_or_path"),
    "org/toml-model": ("configs/run.toml:1:13", "config:model_id"),
    "org/sh-download": ("scripts/train.sh:2:13", "hf download"),
    "org/sh-dataset": ("scripts/train.sh:3:26", "huggingface-cli download"),
    "org/sh-flag": ("scripts/train.sh:4:38", "shell:--model_name_or_path"),
    "org/sh-python-c": ("scripts/train.sh:5:75", "from_pretrained"),
    "org/make-model": ("Makefile:2:39", "shell:--model_name_or_path"),
    "org/docker-model": ("Dockerfile:2:17", "hf download"),
}


@pytest.fixture
def tree(project):
    for name, text in FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project


def _findings(ptm, *args):
    r = ptm("scan", "--json", "--no-cache", *args)
    assert r.code == 0, r.err
    return json.loads(r.out)["findings"]


def test_scan_reads_notebooks_configs_shell_makefiles_and_dockerfiles(tree, ptm):
    found = {f["model_ids"][0]: f for f in _findings(ptm, ".")}
    assert set(found) == set(EXPECTED)
    for model_id, (location, loader) in EXPECTED.items():
        f = found[model_id]
        cell = f"cell {f['cell']}:" if f["cell"] is not None else ""
        assert (f"{f['path']}:{cell}{f['line']}:{f['col']}", f["loader"]) == (location, loader), model_id
    assert found["org/sh-download"]["revision"] == "v2"
    assert found["org/sh-dataset"]["repo_type"] == "dataset"
    assert found["org/docker-model"]["ignored"] is True
    assert all(f["ignored"] is False for i, f in found.items() if i != "org/docker-model")


def test_each_source_kind_can_be_turned_off_and_paths_excluded(tree, ptm):
    write_manifest(tree, {}, extra='[tool]\nscan-sources = ["python", "config"]\nexclude = ["*.toml"]\n')
    (tree / ".ptmlockignore").write_text("# generated\nconfigs/peft.json\n")
    ids = {f["model_ids"][0] for f in _findings(ptm, ".")}
    assert ids == {"org/yaml-model", "openai-community/gpt2", "org/yaml-args", "org/yaml-block"}


def test_unknown_scan_source_kind_is_a_manifest_error(tree, ptm):
    write_manifest(tree, {}, extra='[tool]\nscan-sources = ["python", "notebooks"]\n')
    r = ptm("scan", ".")
    assert r.code == 3
    assert "unknown source kind 'notebooks' in [tool] scan-sources; the kinds are python, notebook, config, shell" \
        in r.err and "ptm.toml:" in r.err


def test_check_reports_notebook_cells_and_passes_once_declared(tree, ptm):
    write_manifest(tree, {})
    r = ptm("check", "explore.ipynb", "scripts/train.sh")
    assert r.code == 1
    lines = [line for line in r.out.splitlines() if "PTM002" in line]
    assert lines[0].startswith("explore.ipynb:cell 2:3:5: PTM002 'org/nb-model' is loaded here")
    assert lines[1].startswith("explore.ipynb:cell 2:4:14: PTM002 'org/nb-shell'")
    assert len(lines) == 6
    declared = {i: {} for i in ("org/nb-model", "org/nb-shell", "org/sh-download", "org/sh-flag", "org/sh-python-c")}
    declared["org/sh-dataset"] = {"type": "dataset"}
    write_manifest(tree, declared)
    r = ptm("check", "--format", "json", "explore.ipynb", "scripts/train.sh")
    problems = json.loads(r.out)["problems"]
    assert [p["code"] for p in problems] == ["PTM001"]  # the lock is missing; no undeclared load left


def test_check_sarif_is_valid_sarif_with_one_result_per_problem(tree, ptm):
    jsonschema = pytest.importorskip("jsonschema")
    write_manifest(tree, {})
    r = ptm("check", "--format", "sarif", "explore.ipynb", "Makefile")
    assert r.code == 1
    log = json.loads(r.out)
    jsonschema.Draft7Validator.check_schema(_SARIF_SHAPE)
    jsonschema.validate(log, _SARIF_SHAPE)
    results = log["runs"][0]["results"]
    by_rule = sorted((res["ruleId"], res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                      res["locations"][0]["physicalLocation"]["region"]["startLine"]) for res in results)
    assert by_rule == [("PTM001", "ptm.toml", 1), ("PTM002", "Makefile", 2), ("PTM002", "explore.ipynb", 3),
                       ("PTM002", "explore.ipynb", 4)]
    nb = [res for res in results if res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "explore.ipynb"]
    assert all(res["properties"]["cell"] == 2 and "(cell 2)" in res["message"]["text"] for res in nb)
    assert [rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]] == ["PTM001", "PTM002", "PTM003"]


# The parts of the SARIF 2.1.0 schema GitHub code scanning requires (the full schema is not on disk here).
_SARIF_SHAPE = {
    "type": "object", "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["tool", "results"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name", "rules"],
                    "properties": {"rules": {"type": "array", "items": {"type": "object", "required": ["id"]}}}}}},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["ruleId", "message", "locations"],
                    "properties": {
                        "message": {"type": "object", "required": ["text"]},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "locations": {"type": "array", "items": {"type": "object", "properties": {
                            "physicalLocation": {"type": "object", "required": ["artifactLocation", "region"],
                                                 "properties": {"region": {"type": "object", "required": ["startLine"],
                                                                           "properties": {"startLine": {"minimum": 1}}}}}}}},
                    }}},
            }}},
    },
}


def test_init_from_code_declares_ids_found_outside_python(tree, ptm):
    r = ptm("init", "--from-code", ".")
    assert r.code == 0, r.err
    text = (tree / "ptm.toml").read_text()
    for model_id in EXPECTED:
        if model_id != "org/docker-model":
            assert f'[models."{model_id}"]' in text
    assert '[models."org/sh-dataset"]\ntype = "dataset"' in text
    assert '[models."org/sh-download"]\nrevision = "v2"' in text


def test_scan_sources_option_selects_kinds_and_refuses_unknown_ones(tree, ptm):
    ids = {f["model_ids"][0] for f in _findings(ptm, "--sources", "shell", ".")}
    assert ids == {"org/sh-download", "org/sh-dataset", "org/sh-flag", "org/sh-python-c", "org/make-model",
                   "org/docker-model"}
    r = ptm("scan", "--sources", "python,yaml", ".")
    assert r.code == 2 and "unknown source kind 'yaml'; the kinds are python, notebook, config, shell" in r.err

"""Helpers shared by the lock/CLI tests: run the CLI in-process, read and schema-check locks."""
from __future__ import annotations

import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jsonschema

SCHEMA = json.loads((Path(__file__).parent.parent / "schema" / "ptm.lock.schema.json").read_text())
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


@dataclass
class Result:
    code: int
    out: str
    err: str


def read_lock(project: Path) -> dict:
    """The project's ptm.lock as data, validated against schema/ptm.lock.schema.json."""
    data = tomllib.loads((project / "ptm.lock").read_text())
    _VALIDATOR.validate(data)
    return data


def model_entry(lock: dict, model_id: str) -> dict:
    return next(m for m in lock["model"] if m["id"] == model_id)


def write_manifest(project: Path, models: dict[str, dict], extra: str = "") -> Path:
    lines = ['[project]\nname = "t"\n']
    for model_id, fields in models.items():
        lines.append(f'\n[models."{model_id}"]\n')
        for k, v in fields.items():
            lines.append(f"{k} = {json.dumps(v)}\n")
    path = project / "ptm.toml"
    path.write_text("".join(lines) + extra)
    return path


def tiny_repo_files(tag: str = "v1") -> dict[str, bytes]:
    return {
        "config.json": json.dumps({"model_type": "bert", "hidden_size": 32, "tag": tag}).encode(),
        "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + tag.encode() * 64,
        "README.md": b"---\nlicense: mit\nlibrary_name: transformers\npipeline_tag: fill-mask\n---\n# tiny\n",
    }


PY = sys.executable
# How a terminal starts a foreground command: SIGINT at its default disposition. A suite run in
# the background of a non-interactive shell (`pytest &`, some CI steps) inherits SIGINT *ignored*
# and so would every child it starts, and a Ctrl-C test would then only see the child ignore the
# signal (issue 24: exit 4 after the retries instead of 130). Prefix a Ctrl-C test's command with it.
FOREGROUND = (PY, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        "os.execv(sys.argv[1], sys.argv[1:])")

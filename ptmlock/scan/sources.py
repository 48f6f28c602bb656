"""Model ids named outside `.py` files: notebooks, config files, shell scripts, Makefiles and
Dockerfiles. Pure: (path, text) -> findings.

| kind       | files                                                  | what counts as a load |
|------------|--------------------------------------------------------|-----------------------|
| `notebook` | `*.ipynb`                                              | code cells, scanned as Python (`%magics` blanked); `!` shell lines as `shell` |
| `config`   | `*.yaml *.yml *.json *.toml *.cfg`                     | the keys in `CONFIG_KEYS`, and `--model*` flags inside `args`/`command` lists |
| `shell`    | `*.sh *.bash *.zsh`, `Makefile *.mk`, `Dockerfile *.dockerfile Containerfile` | `--model_name_or_path X` and the other `--model*` flags, `hf download X`, `huggingface-cli download X`, `from_pretrained('X')` (in `python -c`) |

Only literal Hub ids count (`org/name`, or a legacy root id such as `gpt2`): a `$VAR`, a path or
a bare word that is not a known model is left out, so a config value never becomes a false
alarm. Notebook cells report `cell` (1-based, counting code cells and markdown cells alike, as
Jupyter numbers them) with line and column inside the cell.
"""
from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import replace

from ptmlock.scan import identity
from ptmlock.scan.loaders import classify_id
from ptmlock.scan.types import Finding

PYTHON, NOTEBOOK, CONFIG, SHELL = "python", "notebook", "config", "shell"
KINDS = (PYTHON, NOTEBOOK, CONFIG, SHELL)

CONFIG_KEYS = (
    "model_name_or_path", "pretrained_model_name_or_path", "base_model", "base_model_name_or_path",
    "tokenizer_name", "tokenizer_name_or_path", "model_id", "model_name", "teacher_model_name_or_path",
)
# `--model*` flags whose value is never a model id
_NOT_ID_FLAGS = frozenset({
    "--model_type", "--model-type", "--model_max_length", "--model-max-length", "--model_revision",
    "--model-revision", "--model_dir", "--model-dir", "--model_path", "--model-path", "--model_parallel",
    "--model_args", "--model-args", "--model_dtype", "--model-dtype", "--model_config", "--model-config",
})
_EXTRA_FLAGS = ("--tokenizer_name", "--tokenizer-name", "--base_model", "--base-model",
                "--pretrained_model_name_or_path", "--teacher_model_name_or_path")
_SUFFIXES = {
    ".ipynb": NOTEBOOK, ".yaml": CONFIG, ".yml": CONFIG, ".json": CONFIG, ".toml": CONFIG, ".cfg": CONFIG,
    ".sh": SHELL, ".bash": SHELL, ".zsh": SHELL, ".mk": SHELL, ".dockerfile": SHELL, ".py": PYTHON,
    ".pyi": PYTHON,
}
_NAMES = {"makefile": SHELL, "gnumakefile": SHELL, "dockerfile": SHELL, "containerfile": SHELL}
# files that hold hashes and ids of their own, never model loads
_NEVER = frozenset({"ptm.lock", "ptm.toml", "package.json", "package-lock.json", "tsconfig.json", "pyproject.toml",
                    "poetry.lock", "uv.lock", "pipfile.lock", "composer.json", ".pre-commit-config.yaml"})

_IGNORE = re.compile(r"#\s*ptmlock:\s*ignore\b")
_TOKEN = re.compile(r"""(?P<q>["'])(?P<s>(?:\\.|(?!(?P=q)).)*)(?P=q)|(?P<w>[^\s"'\[\],:=#{}()]+)""")
_KEY_VALUE = re.compile(
    r"""(?<![\w-])(?P<key>["']?(?:%s)["']?)\s*[:=]\s*(?P<q>["']?)(?P<value>[^"'\s,#}\]]+)(?P=q)""" % "|".join(CONFIG_KEYS))
_DOWNLOAD = re.compile(r"\b(?:hf|huggingface-cli)\s+download\s+(?P<q>[\"']?)(?P<value>[^\s\"'$;&|]+)(?P=q)")
_REVISION = re.compile(r"--revision[=\s]+[\"']?(?P<rev>[^\s\"']+)")
_REPO_TYPE = re.compile(r"--repo-type[=\s]+[\"']?(?P<type>model|dataset|space)")
_FROM_PRETRAINED = re.compile(r"""\.from_pretrained\(\s*(?P<q>\\?["'])(?P<value>[^"'\\]+)(?P=q)""")


def kind_of(path: str) -> str | None:
    """Which source kind `path` is (by name), or None for a file scan does not read."""
    name = os.path.basename(path).lower()
    if name in _NEVER:
        return None
    if name in _NAMES or name.startswith("dockerfile."):
        return _NAMES.get(name, SHELL)
    return _SUFFIXES.get(os.path.splitext(name)[1])


def scan_config(path: str, text: str) -> list[Finding]:
    """Model ids in a YAML/JSON/TOML/INI config: the known keys, and `--model*` flags in lists."""
    out: list[Finding] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in _KEY_VALUE.finditer(line):
            key = m.group("key").strip("\"'")
            out.extend(_found(path, lineno, m.start("value") + 1, f"config:{key}", m.group("value"), line))
    return out + _flags(path, text, "config")


def scan_shell(path: str, text: str) -> list[Finding]:
    """Model ids passed on command lines: `--model_name_or_path X`, `hf download X`,
    `huggingface-cli download X`, and `from_pretrained('X')` (e.g. inside `python -c`)."""
    out: list[Finding] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        downloads = list(_DOWNLOAD.finditer(line))
        for m, after in zip(downloads, [*(d.start() for d in downloads[1:]), len(line)]):
            # the options of this command only: up to the next download (linear in the line)
            rev = _REVISION.search(line, m.end(), after)
            kind = _REPO_TYPE.search(line, m.end(), after)
            loader = "huggingface-cli download" if "huggingface-cli" in m.group(0) else "hf download"
            out.extend(_found(path, lineno, m.start("value") + 1, loader, m.group("value"), line,
                              revision=rev.group("rev") if rev else None,
                              repo_type=kind.group("type") if kind else "model", library="huggingface_hub"))
        for m in _FROM_PRETRAINED.finditer(line):
            out.extend(_found(path, lineno, m.start("value") + 1, "from_pretrained", m.group("value"), line))
    return out + _flags(path, text, "shell")


def scan_notebook(path: str, text: str, scan_python: Callable[[str, str], list[Finding]]) -> list[Finding]:
    """Model loads in a notebook's code cells (Python, and `!` shell lines); a notebook that is
    not valid JSON gives no findings."""
    try:  # the C decoder bounds nesting by the recursion limit: 100,000 levels raise, never crash
        doc = json.loads(text)
    except (ValueError, RecursionError, MemoryError):
        return []
    cells = doc.get("cells", []) if isinstance(doc, dict) else []
    out: list[Finding] = []
    for number, cell in enumerate(cells if isinstance(cells, list) else [], 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):  # a number, a dict, a list holding anything but text
            continue
        python, shell = _split_cell(source)
        found = scan_python(path, python)
        out.extend(replace(f, cell=number) for f in found)
        out.extend(replace(f, cell=number) for f in scan_shell(path, shell))
    return out


def _split_cell(source: str) -> tuple[str, str]:
    """(the cell as Python with magics and shell lines blanked, the `!` lines as shell), both
    keeping line numbers."""
    python, shell = [], []
    for line in source.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("!"):
            python.append("")
            shell.append(line.replace("!", " ", 1))
        elif stripped.startswith("%"):
            python.append("")
            shell.append("")
        else:
            python.append(line)
            shell.append("")
    return "\n".join(python), "\n".join(shell)


def _flags(path: str, text: str, where: str) -> list[Finding]:
    """`--model* VALUE` / `--model*=VALUE` anywhere in the text: shell words or list items."""
    out: list[Finding] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = [(m.start(), m.group("s") if m.group("s") is not None else m.group("w")) for m in _TOKEN.finditer(line)]
        for i, (_, tok) in enumerate(tokens):
            flag, eq, value = tok.partition("=")
            if not _is_model_flag(flag):
                continue
            col = None
            if eq and value:
                col = line.find(value, tokens[i][0]) + 1
            elif i + 1 < len(tokens):
                col, value = tokens[i + 1][0] + 1, tokens[i + 1][1]
            if col and value:
                out.extend(_found(path, lineno, col, f"{where}:{flag}", value.strip("\"'"), line))
    return _next_line_values(path, text, where, out)


def _next_line_values(path: str, text: str, where: str, out: list[Finding]) -> list[Finding]:
    """YAML block lists put a flag and its value on two lines (`- --model_name_or_path` / `- gpt2`)."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        m = re.fullmatch(r"\s*-\s*[\"']?(--[\w-]+)[\"']?\s*", line)
        if m and _is_model_flag(m.group(1)):
            nxt = re.fullmatch(r"(\s*-\s*[\"']?)([^\"'\s]+)[\"']?\s*", lines[i + 1])
            if nxt:
                out.extend(_found(path, i + 2, len(nxt.group(1)) + 1, f"{where}:{m.group(1)}", nxt.group(2),
                                  lines[i + 1]))
    return out


def _is_model_flag(flag: str) -> bool:
    return (flag.startswith("--model") or flag in _EXTRA_FLAGS) and flag not in _NOT_ID_FLAGS


def _found(path: str, line: int, col: int, loader: str, value: str, text: str, *, revision: str | None = None,
           repo_type: str = "model", library: str = "transformers") -> list[Finding]:
    """One finding when `value` is a literal Hub id (an `org/name`, or a known legacy root id)."""
    c = classify_id(value)
    if c.kind != "hf" or ("/" not in c.value and identity.legacy_alias(c.value) is None):
        return []
    return [Finding(path=path, line=line, col=col, loader=loader, library=library,
                    model_ids=(identity.hf_repo(c.value),), revision=revision or c.revision, hub=identity.HF,
                    repo_type=c.repo_type or repo_type, ignored=_ignored(text))]


@functools.lru_cache(maxsize=4)
def _ignored(line: str) -> bool:
    """`# ptmlock: ignore` on the line; searched once per line, not once per finding on it (a long
    line of many commands stays linear)."""
    return bool(_IGNORE.search(line))

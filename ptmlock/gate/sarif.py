"""`ptmlock check --format sarif`: the problems as a SARIF 2.1.0 log, for GitHub code scanning.

One run, one rule per check code, one result per problem with a physical location relative to
the repository root (`%SRCROOT%`). A notebook problem points at the `.ipynb` file; its cell is in
the message and in `properties.cell` (SARIF has no notion of notebook cells). Pure.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ptmlock import __version__
from ptmlock.gate.check import Diagnostic

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULES = {
    "PTM001": ("stale-lock", "ptm.lock is stale against ptm.toml", "error"),
    "PTM002": ("undeclared-model", "A model is loaded but not declared in ptm.toml", "error"),
    "PTM003": ("contradicting-revision", "The code passes a revision that contradicts ptm.lock", "error"),
}
_HELP = "https://github.com/ptmlock/ptmlock/blob/main/docs/scan.md#check-codes"


def to_sarif(problems: Sequence[Diagnostic]) -> dict[str, Any]:
    """The SARIF log (a JSON-ready dict) for `problems`."""
    rules = [{"id": code, "name": name, "shortDescription": {"text": text}, "helpUri": _HELP,
              "defaultConfiguration": {"level": level}} for code, (name, text, level) in RULES.items()]
    index = {code: i for i, code in enumerate(RULES)}
    results = []
    for p in problems:
        where = f" (cell {p.cell})" if p.cell is not None else ""
        result: dict[str, Any] = {
            "ruleId": p.code,
            "ruleIndex": index[p.code],
            "level": RULES[p.code][2],
            "message": {"text": p.message + where},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": p.path.replace("\\", "/"), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": p.line, "startColumn": p.col},
            }}],
        }
        if p.cell is not None:
            result["properties"] = {"cell": p.cell}
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "ptmlock", "version": __version__, "informationUri": _HELP,
                                      "rules": rules}},
                  "results": results}],
    }

"""`ptmlock audit --format sarif`: the audit report as SARIF 2.1.0, for CI code scanning.

One run, tool `ptmlock`, one rule per audit rule (`audit.RULES`), one result per finding. A
finding is about a model, not a line of code, so its location is the model's entry in ptm.lock
(the line that names it), with the model and file as a logical location. Results carry a
partial fingerprint (rule, model, file) so code scanning tracks a finding across commits of
the lock. Pure: returns data, the CLI prints it.
"""
from __future__ import annotations

import hashlib
from typing import Any

from ptmlock.supply.audit import RULES, AuditReport, Violation

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_DESCRIPTIONS = {
    "license": ("Model license outside the allowed list", "warning", "5.0"),
    "gated": ("Gated model repository", "note", "2.0"),
    "remote-code": ("Model ships Python code (trust_remote_code)", "error", "8.0"),
    "pickle-weights": ("Weights only in pickle formats", "warning", "6.0"),
    "pickle-code-execution": ("Pickle imports a callable that runs code when loaded", "error", "9.8"),
    "pickle-inconclusive": ("Model file the scanner could not read to its end", "error", "8.0"),
    "pickle-unknown-global": ("Pickle imports a global outside the allow-list", "warning", "6.5"),
    "keras-lambda": ("Keras model with a Lambda layer (Python code)", "error", "9.0"),
    "tf-dangerous-op": ("TensorFlow graph with ops that run Python or touch files", "error", "9.0"),
    "onnx-external-data": ("ONNX external data outside the model's folder", "error", "8.0"),
    "onnx-custom-op": ("ONNX operators from custom domains (native code)", "warning", "6.5"),
    "gguf-template-code": ("GGUF chat template with Jinja code-execution constructs", "error", "9.0"),
    "safetensors-invalid": ("safetensors header the library refuses", "error", "7.0"),
}


def to_sarif(report: AuditReport, *, lock_uri: str, lock_text: str | None = None, version: str = "") -> dict[str, Any]:
    """The SARIF 2.1.0 log of `report`; `lock_uri` is ptm.lock's path relative to the repository root.

    `lock_text` (ptm.lock's content) lets each result point at the line naming its model.
    """
    rules = [_rule(r) for r in RULES]
    results = [_result(f, lock_uri, _line_of(lock_text, f.model)) for f in report.findings]
    driver: dict[str, Any] = {"name": "ptmlock", "rules": rules}
    if version:
        driver["semanticVersion"] = version
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the repository root"}}},
            "results": results,
            "properties": {"deep": report.deep, "models": report.models,
                           "scanned": [s.to_dict() for s in report.scanned]},
        }],
    }


def _rule(rule: str) -> dict[str, Any]:
    title, level, severity = _DESCRIPTIONS[rule]
    return {
        "id": rule,
        "name": "".join(part.capitalize() for part in rule.split("-")),
        "shortDescription": {"text": title},
        "fullDescription": {"text": f"ptmlock audit rule `{rule}`: {title.lower()}."},
        "help": {"text": f"See `ptmlock audit --help` and ptmlock's docs/pickles.md (rule {rule})."},
        "defaultConfiguration": {"level": level},
        "properties": {"tags": ["security", "supply-chain", "ml-model"], "security-severity": severity},
    }


def _result(f: Violation, lock_uri: str, line: int) -> dict[str, Any]:
    where = f"{f.model}/{f.file}" if f.file else f.model
    key = "\0".join((f.rule, f.model.casefold(), f.file or ""))
    return {
        "ruleId": f.rule,
        "ruleIndex": RULES.index(f.rule),
        "level": _DESCRIPTIONS[f.rule][1],
        "message": {"text": f"{f.message} Risk: {f.risk} Fix: {f.fix}"},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": lock_uri, "uriBaseId": "%SRCROOT%"},
                                 "region": {"startLine": line}},
            "logicalLocations": [{"name": f.file or f.model, "fullyQualifiedName": where, "kind": "module"}],
        }],
        "partialFingerprints": {"ptmlockFinding/v1": hashlib.sha256(key.encode()).hexdigest()},
        "properties": {"model": f.model, "commit": f.commit, "file": f.file, "globals": list(f.globals)},
    }


def _line_of(text: str | None, model: str) -> int:
    if text:
        needle = f'"{model}"'
        for number, line in enumerate(text.splitlines(), start=1):
            if needle in line:
                return number
    return 1

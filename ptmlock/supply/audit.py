"""`ptmlock audit`: the manifest's `[policy]` applied to what ptm.lock records, and (`deep`) to the
pickle files `ptmlock sync` put in the Hugging Face cache.

Rules on the lock (no network, no file reads beyond ptm.toml and ptm.lock):
`pickle-weights` (weights only in pickle formats), `remote-code` (the repo ships `*.py`),
`license` (outside `licenses`, or none recorded), `gated`. With `deep`, every cached file a
loader could unpickle (decided by its first bytes, whatever its name) is read opcode by opcode
(`ptmlock.supply.pickles`, never unpickled): `pickle-code-execution` for callables that run
code, `pickle-inconclusive` for a file not read to its end (or a `.safetensors` that is not
one), `pickle-unknown-global` for reviewed weights-style classes outside the allow-list
(training arguments). Any other global outside the allow-list is `pickle-code-execution`
(issue 23: severity from the allow-list). `allow-pickle` silences only `pickle-weights`;
`trust-pickle = true` on a model accepts its weights-style classes; `trust-pickle = ["m.Name"]`
also accepts exactly the listed unknown globals (issue 22); nothing silences a known-dangerous
global or an inconclusive file (issue 12: fail closed).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptmlock.constants import PICKLE_SUFFIXES
from ptmlock.filesets import is_pickle, matches
from ptmlock.lockfile.fresh import lock_state
from ptmlock.lockfile.model import Lock, LockedFile, LockedModel
from ptmlock.manifest.parse import load_manifest
from ptmlock.supply.pickles import PICKLE_NAMES, PickleScan, scan_file, sniff_file
from ptmlock.supply.pickles.passed import record_passed, sha256_of
from ptmlock.supply.rules import Allow, Policy, load_policy

MODEL_NAMES = (".npz", ".safetensors", ".keras", ".h5", ".hdf5", ".onnx", ".pb", ".gguf")
RULES = ("license", "gated", "remote-code", "pickle-weights", "pickle-code-execution", "pickle-inconclusive",
         "pickle-unknown-global", "keras-lambda", "tf-dangerous-op", "onnx-external-data", "onnx-custom-op",
         "gguf-template-code", "safetensors-invalid")
# what each beyond-pickle finding risks, and what to do (issue 23)
_FORMAT_ADVICE = {
    "keras-lambda": ("Loading the model with safe_mode=False (or Keras 2) runs the layer's Python code.",
                     "Do not load it with safe_mode=False; rebuild the layer in your own code, or use another model."),
    "tf-dangerous-op": ("Running the graph runs Python or reads, writes or lists files with your permissions.",
                        "Do not load it; use a model whose graph uses only compute ops."),
    "onnx-external-data": ("Loading it reads files outside the model's folder (a local file disclosure).",
                           "Do not load it; external data must stay inside the model's folder."),
    "onnx-custom-op": ("Running it needs a native op library registered for these domains: native code.",
                       "Load it only with op libraries you trust; prefer a model with standard ONNX ops."),
    "gguf-template-code": ("Rendering the chat template (transformers, llama-cpp-python) can reach Python objects "
                           "and run code.", "Do not use its chat template; pass your own template, or use another "
                                            "model."),
    "safetensors-invalid": ("The safetensors library refuses it; a loader that does not check may read other bytes "
                            "than the header says.", "Re-download it; if it stays invalid, report the repository."),
}


@dataclass(frozen=True)
class Violation:
    """One policy violation: what was found, why it matters (`risk`) and what to do (`fix`)."""

    rule: str
    model: str
    commit: str
    message: str
    risk: str
    fix: str
    file: str | None = None
    globals: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "model": self.model, "commit": self.commit, "message": self.message,
                "risk": self.risk, "fix": self.fix, "file": self.file, "globals": list(self.globals)}


@dataclass(frozen=True)
class ScannedFile:
    """A cached file `deep` read: its verdict, what it imports, and why it is inconclusive."""

    model: str
    file: str
    verdict: str
    globals: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    inconclusive: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    flags: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "file": self.file, "verdict": self.verdict, "globals": list(self.globals),
                "members": list(self.members), "inconclusive": list(self.inconclusive), "formats": list(self.formats),
                "flags": [{"rule": code, "message": message} for code, message in self.flags]}


@dataclass(frozen=True)
class AuditReport:
    """Everything `audit_project` found; `findings` empty means the project passes."""

    findings: tuple[Violation, ...]
    models: int
    policy: Policy
    deep: bool = False
    scanned: tuple[ScannedFile, ...] = ()
    not_synced: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (model, file)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deep": self.deep,
            "findings": [f.to_dict() for f in self.findings],
            "models": self.models,
            "policy": policy_dict(self.policy),
            "scanned": [s.to_dict() for s in self.scanned],
            "not_synced": [{"model": m, "file": f} for m, f in self.not_synced],
        }


def policy_dict(policy: Policy) -> dict[str, Any]:
    """The effective policy as JSON data (an allow list shows as its casefolded ids)."""
    def show(allow: Allow) -> bool | list[str]:
        return True if allow.everyone else sorted(allow.models) or False

    return {"allow-pickle": show(policy.allow_pickle), "allow-remote-code": show(policy.allow_remote_code),
            "allow-gated": show(policy.allow_gated),
            "licenses": list(policy.licenses) if policy.licenses is not None else None}


def audit_project(manifest_path: Path, *, deep: bool = False) -> AuditReport:
    """Audit the project of `manifest_path` against its `[policy]`.

    Raises:
        ManifestError: bad manifest or a bad `[policy]` value (file:line:col).
        LockfileError: no lock, an unreadable one, or one stale against the manifest.
    """
    manifest = load_manifest(manifest_path)
    lock = lock_state(manifest).require("audit")
    known = [i for m in lock.models for i in (m.id, m.canonical)]
    policy = load_policy(manifest, known)
    findings = audit_lock(lock, policy)
    scanned: list[ScannedFile] = []
    missing: list[tuple[str, str]] = []
    if deep:
        trusting = {spec.id.casefold(): (spec.trust_pickle, frozenset(spec.trust_globals)) for spec in manifest.models}

        def trusted(m: LockedModel) -> tuple[bool, frozenset[str]]:
            return trusting.get(m.id.casefold()) or trusting.get(m.canonical.casefold()) or (False, frozenset())

        deep_findings, scanned, missing = scan_cached_pickles(lock, policy, trusted=trusted)
        findings += deep_findings
    findings.sort(key=lambda f: (f.model.casefold(), RULES.index(f.rule), f.file or ""))
    return AuditReport(findings=tuple(findings), models=len(lock.models), policy=policy, deep=deep,
                       scanned=tuple(scanned), not_synced=tuple(missing))


def audit_lock(lock: Lock, policy: Policy) -> list[Violation]:
    """The findings of the lock-level rules; pure."""
    out: list[Violation] = []
    for m in lock.models:
        ids = (m.id, m.canonical)
        if policy.licenses is not None:
            parts = [x.strip() for x in (m.license or "").split(",") if x.strip()]
            bad = [x for x in parts if not policy.license_allowed(x)]
            if not parts or bad:
                what = (f"license {', '.join(repr(x) for x in bad)} is not" if parts
                        else "no license is recorded, so it is not")
                out.append(_finding(
                    "license", m, f"{what} in the allowed list ({', '.join(policy.licenses) or 'empty'}).",
                    risk="Using the model may break its terms or your project's licensing rules.",
                    fix=f"Replace the model, or after a legal review add {', '.join(bad) or 'its license'} to "
                        f"`licenses` in [policy].",
                ))
        if m.gated and not policy.allow_gated.permits(*ids):
            kind = f" ({m.gated} approval)" if isinstance(m.gated, str) else ""
            out.append(_finding(
                "gated", m, f"the repository is gated{kind}: downloading it needs an account that accepted its terms.",
                risk="Builds and CI need a token with access, and the terms you accepted bind the project.",
                fix=f"Use an ungated model, or allow it: allow-gated = [\"{m.id}\"] in [policy].",
            ))
        code = sorted(f.path for f in m.files if f.path.endswith(".py"))
        if code and not policy.allow_remote_code.permits(*ids):
            out.append(_finding(
                "remote-code", m, f"the repository ships Python code ({_few(code)}); loading it needs "
                                  "trust_remote_code=True.",
                risk="trust_remote_code runs that code in your process with your permissions.",
                fix=f"Read the code at the pinned commit (the pin keeps it from changing), then allow it: "
                    f"allow-remote-code = [\"{m.id}\"] in [policy]; or use a model with a built-in architecture.",
            ))
        if pickle_only(m) and not policy.allow_pickle.permits(*ids):
            pickles = sorted(f.path for f in fetched_files(m) if is_pickle(f.path))
            out.append(_finding(
                "pickle-weights", m, f"its weights exist only as pickle files ({_few(pickles)}), with no "
                                     "safetensors alternative.",
                risk="Unpickling runs any code the file names: a tampered or malicious file executes on load.",
                fix=f"Pin a revision with .safetensors weights (the hub's conversion PRs are refs/pr/N), or run "
                    f"`ptmlock audit --deep` after `ptmlock sync` and allow it: allow-pickle = [\"{m.id}\"] in "
                    "[policy].",
            ))
    return out


def fetched_files(m: LockedModel) -> list[LockedFile]:
    """The model's files that `sync` fetches: those matching its `files` globs, or all."""
    if not m.include:
        return list(m.files)
    return [f for f in m.files if matches(f.path, m.include)]


def pickle_only(m: LockedModel) -> bool:
    """True when the fetched files hold pickle weights and no safe weight format (`LockedModel.pickle_only`)."""
    return m.pickle_only


def scan_cached_pickles(
    lock: Lock,
    policy: Policy,
    *,
    locate: Callable[[LockedModel, str], Path | None] | None = None,
    trusted: Callable[[LockedModel], tuple[bool, frozenset[str]]] = lambda m: (False, frozenset()),
) -> tuple[list[Violation], list[ScannedFile], list[tuple[str, str]]]:
    """Scan every cached file of `lock` that a loader could unpickle; returns (findings, scanned
    files, pickle files not synced).

    A file is read when its first bytes say pickle, archive, compressed stream or `.npy`, or its
    name is a pickle or `.safetensors` name. `locate` maps (model, path) to the cached file
    (default: the Hugging Face cache at the pin); `trusted` gives a model's `trust-pickle`
    (true, and the exact global names it lists). A file with no finding is recorded as passed
    (`pickles.passed`), with the globals trust accepted in it.
    """
    del policy  # allow-pickle silences pickle-weights only, which the lock rules decide
    find = locate or cached_file
    findings: list[Violation] = []
    scanned: list[ScannedFile] = []
    missing: list[tuple[str, str]] = []
    for m in sorted(lock.models, key=lambda x: x.id.casefold()):
        for f in sorted(fetched_files(m), key=lambda x: x.path):
            named = f.path.lower().endswith((*PICKLE_SUFFIXES, *PICKLE_NAMES, *MODEL_NAMES))
            local = find(m, f.path)
            if local is None:
                if named:
                    missing.append((m.id, f.path))
                continue
            if not named and sniff_file(local) == "data":
                continue
            result = scan_file(local)
            if result.verdict == "not-pickle" and (not named or result.formats in (("safetensors",), ("onnx", "data"),
                                                                                  ("savedmodel", "data"))):
                continue  # no pickle, and nothing a name promised: a valid safetensors, graph, or plain data
            scanned.append(ScannedFile(m.id, f.path, result.verdict, result.globals, result.members,
                                       result.inconclusive, result.formats, result.flags))
            found, accepted = _file_findings(m, f.path, result, *trusted(m))
            findings += found
            if not found and result.members:
                try:
                    record_passed(sha256_of(local), trusted=accepted)
                except OSError:
                    pass  # the record is a convenience for the strict guard: no record, a re-audit
    return findings, scanned, missing


def _file_findings(m: LockedModel, path: str, result: PickleScan, trusts: bool,
                   names: frozenset[str]) -> tuple[list[Violation], tuple[str, ...]]:
    # issue 22 item 7: trust-pickle = true accepts reviewed weights-style classes only; a global
    # outside the allow-list is accepted only when listed by exact name; a known-dangerous one never
    out: list[Violation] = []
    if result.dangerous:
        out.append(_finding(
            "pickle-code-execution", m, f"{path} imports {', '.join(result.dangerous)} when unpickled.",
            risk="Loading the file (torch.load, from_pretrained, pickle.load) calls that: arbitrary code runs "
                 "on your machine with your permissions.",
            fix=f"Do not load it. Delete it from the cache (`hf cache rm {m.repo_type}/{m.canonical}`), report "
                "the repository to its hub, and pin a commit whose weights are .safetensors.",
            file=path, globals=result.dangerous,
        ))
    unlisted = tuple(g for g in result.unlisted if g not in names)
    if unlisted:
        listed = ", ".join(f'"{g}"' for g in unlisted)
        out.append(_finding(
            "pickle-code-execution", m, f"{path} imports {', '.join(unlisted)} when unpickled: outside the "
                                        "allow-list and unknown to the scanner, so possibly code execution.",
            risk="A full unpickle (torch.load(weights_only=False), pickle.load, joblib.load) calls it; what it does "
                 "was not reviewed, and callables outside the allow-list are how pickles run code.",
            fix=f"Do not load it until you know what it does. If you reviewed it and trust it, list it by exact name "
                f"on [models.\"{m.id}\"]: trust-pickle = [{listed}]; better, use .safetensors.",
            file=path, globals=unlisted,
        ))
    for code, message in result.flags:
        risk, fix = _FORMAT_ADVICE[code]
        out.append(_finding(code, m, f"{message}.", risk=risk, fix=fix, file=path))
    weights_style = tuple(g for g in result.unknown if not trusts and g not in names)
    accepted = tuple(sorted({*(g for g in result.unlisted if g in names),
                             *(g for g in result.unknown if g not in weights_style)}))
    if result.inconclusive:
        more = f" (and {len(result.inconclusive) - 1} more)" if len(result.inconclusive) > 1 else ""
        if path.endswith(".safetensors"):  # already the safe format: a malformed one, not a pickle to replace
            risk = ("It is not a valid .safetensors file: safetensors loaders refuse it, and a pickle named "
                    ".safetensors would run code if torch.load read it.")
            fix = ("Run `ptmlock verify`: if it reports the file, `ptmlock sync` fetches the locked bytes again; "
                   "if not, the repository ships it malformed at this commit: do not load it with torch.load, "
                   "report it to the repository, and pin another commit or exclude it from `files` in ptm.toml.")
        else:
            risk = ("What the scanner did not read can run code when a loader unpickles it; the file is not "
                    "known to be safe.")
            fix = ("Treat it as dangerous: do not load it with torch.load(weights_only=False) or pickle.load. Pin a "
                   "commit whose weights are .safetensors, or exclude the file from `files` in ptm.toml.")
        out.append(_finding(
            "pickle-inconclusive", m, f"{path} could not be read to its end: {result.inconclusive[0]}{more}.",
            risk=risk, fix=fix, file=path, globals=result.globals,
        ))
    if weights_style:
        out.append(_finding(
            "pickle-unknown-global", m,
            f"{path} imports {', '.join(weights_style)}, outside the allow-list of what tensors and state "
            "dicts need.",
            risk="A full unpickle calls these; torch.load(weights_only=True) refuses them.",
            fix="Check what they are. If you trust this model's pickles, set trust-pickle = true on "
                f"[models.\"{m.id}\"]; if the file is not needed, exclude it with `files`. Better, use .safetensors.",
            file=path, globals=weights_style,
        ))
    return out, accepted


def cached_file(m: LockedModel, path: str) -> Path | None:
    """Where `ptmlock sync` (huggingface_hub) cached `path` of `m` at its pinned commit, or None."""
    from huggingface_hub import try_to_load_from_cache

    for repo_id in dict.fromkeys((m.canonical, m.id)):
        try:
            found = try_to_load_from_cache(repo_id, path, revision=m.commit, repo_type=m.repo_type)
        except ValueError:  # an id huggingface_hub refuses (a url model): nothing cached under it
            continue
        if isinstance(found, str):
            return Path(found)
    return None


def _finding(rule: str, m: LockedModel, what: str, *, risk: str, fix: str, file: str | None = None,
             globals: tuple[str, ...] = ()) -> Violation:
    return Violation(rule=rule, model=m.id, commit=m.commit, message=f"{m.id}: {what}", risk=risk, fix=fix, file=file,
                   globals=globals)


def _few(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def render(report: AuditReport) -> list[str]:
    """The human report, one line each: per finding the message, its risk and its fix."""
    lines: list[str] = []
    for f in report.findings:
        lines.append(f"[{f.rule}] {f.message}")
        lines.append(f"    risk: {f.risk}")
        lines.append(f"    fix:  {f.fix}")
    return lines


def summary(report: AuditReport) -> str:
    """One line for stderr: how many findings in how many models, and what deep read or skipped."""
    n = len(report.findings)
    flagged = len({f.model for f in report.findings})
    models = f"{report.models} model{'s' if report.models != 1 else ''}"
    head = (f"{n} finding{'s' if n != 1 else ''} in {flagged} of {models}." if n
            else f"No findings: {models} pass the policy.")
    if report.deep:
        head += f" Scanned {len(report.scanned)} cached pickle file{'s' if len(report.scanned) != 1 else ''}"
        unread = [s for s in report.scanned if s.verdict == "inconclusive"]
        if unread:
            head += f" ({len(unread)} inconclusive)"
        head += "."
        if report.not_synced:
            head += (f" {len(report.not_synced)} pickle file{'s' if len(report.not_synced) != 1 else ''} not in the "
                     "cache: run `ptmlock sync` to scan them.")
    return head

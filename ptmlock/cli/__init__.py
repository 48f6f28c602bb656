"""The `ptmlock` command line: one short function per verb (parse flags, call core, render)."""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from ptmlock import __version__
from ptmlock.constants import DEFAULT_JOBS, ENV_DEBUG, ENV_JOBS, HUBS, MANIFEST_NAME, POLICIES, REPO_TYPES
from ptmlock.errors import EXIT_CHECK_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, PtmlockError
from ptmlock.output import Output, human_size, redact

_JOBS = click.option("--jobs", "-j", type=click.IntRange(1, 256), default=lambda: int(os.environ.get(ENV_JOBS, DEFAULT_JOBS)),
                     show_default=str(DEFAULT_JOBS), help="Hub requests in flight at once.")


class _Ctx:
    def __init__(self, manifest: Path | None) -> None:
        self._manifest = manifest

    def manifest_path(self) -> Path:
        from ptmlock.manifest.parse import find_manifest

        if self._manifest is not None:
            if not self._manifest.is_file():
                from ptmlock.errors import ManifestError

                raise ManifestError(f"{self._manifest}: file not found. Run `ptmlock init` to create a manifest.")
            return self._manifest
        return find_manifest()

    def optional_manifest_path(self) -> Path | None:
        """The manifest to use, or None when there is none (for commands that work without)."""
        from ptmlock.errors import ManifestError

        try:
            return self.manifest_path()
        except ManifestError:
            if self._manifest is not None:
                raise
            return None

    def init_path(self) -> Path:
        return self._manifest if self._manifest is not None else Path.cwd() / MANIFEST_NAME


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="ptmlock")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Path to {MANIFEST_NAME} (default: the nearest one at or above the current directory).")
@click.pass_context
def cli(ctx: click.Context, manifest: Path | None) -> None:
    """ptmlock: pin the pre-trained models your project loads.

    ptm.toml declares them, ptm.lock pins each to a commit with file hashes,
    and `import ptmlock.enforce` keeps the running program honest to both.
    """
    ctx.obj = _Ctx(manifest)


@cli.command()
@click.option("--name", help="Project name (default: the directory name).")
@click.option("--policy", type=click.Choice(POLICIES), default="warn", show_default=True,
              help="Runtime guard default.")
@click.option("--from-code", "from_code", type=click.Path(exists=True, path_type=str), default=None,
              help="Pre-fill the manifest with the models `ptmlock scan` finds in this path.")
@click.pass_obj
def init(obj: _Ctx, name: str | None, policy: str, from_code: str | None) -> int:
    """Write a starter ptm.toml in the current directory."""
    from ptmlock.project import init_project

    path = obj.init_path()
    text = None
    found = 0
    if from_code is not None:
        from ptmlock.gate.from_code import manifest_from_findings
        from ptmlock.scan.scanner import scan_paths

        findings = scan_paths([from_code])
        found = len({i for f in findings for i in (f.model_ids or ())})
        text = manifest_from_findings(name or path.resolve().parent.name, findings, policy)
    path = init_project(path, name=name, policy=policy, text=text)
    out = Output()
    if from_code is not None:
        out.info(f"Created {path} with {found} model id{'s' if found != 1 else ''} found in {from_code}. "
                 "Review it, then run `ptmlock lock`.")
    else:
        out.info(f"Created {path}. Next: `ptmlock add MODEL` to declare a model.")
    return 0


@cli.command()
@click.argument("model")
@click.option("--role", help="Role the model fills; models sharing a role are interchangeable.")
@click.option("--hub", type=click.Choice(HUBS), default=None, help="Where the model lives (default: huggingface).")
@click.option("--type", "repo_type", type=click.Choice(REPO_TYPES), default=None, help="Repo type (default: model).")
@click.option("--files", multiple=True, help="Glob of files `sync` fetches; repeat for several.")
@click.option("--no-lock", is_flag=True, help="Only edit ptm.toml; do not resolve or touch ptm.lock.")
@_JOBS
@click.pass_obj
def add(obj: _Ctx, model: str, role: str | None, hub: str | None, repo_type: str | None, files: tuple[str, ...],
        no_lock: bool, jobs: int) -> int:
    """Declare MODEL[@REV] in ptm.toml and lock it."""
    from ptmlock.project import add_model, new_spec

    out = Output()
    path = obj.manifest_path()
    spec = new_spec(model, role=role, hub=hub, repo_type=repo_type, files=files)
    outcome = add_model(path, spec, lock=not no_lock, jobs=jobs, on_wait=out.info)
    rev = f"@{spec.revision}" if spec.revision else ""
    if outcome is None:
        out.info(f"Added {spec.id}{rev} to {path.name} (not locked: run `ptmlock lock`).")
        return 0
    pinned = outcome.lock.get(spec.id) if outcome.lock is not None else None
    commit = pinned.commit[:12] if pinned else "?"
    out.info(f"Added {spec.id}{rev} to {path.name}, locked at {commit}.")
    return 0


@cli.command()
@click.argument("model")
@click.pass_obj
def remove(obj: _Ctx, model: str) -> int:
    """Remove MODEL from ptm.toml and ptm.lock."""
    from ptmlock.project import remove_model

    out = Output()
    path = obj.manifest_path()
    notes, wrote_lock = remove_model(path, model, on_wait=out.info)
    for note in notes:
        out.info(note)
    out.info(f"Removed {model} from {path.name}" + (" and ptm.lock." if wrote_lock else "."))
    return 0


@cli.command()
@click.option("--check", is_flag=True, help="Exit 1 if ptm.lock is stale against ptm.toml; never writes or asks a hub.")
@click.option("--upgrade", "upgrade", is_flag=False, flag_value=":all:", default=None, metavar="[MODEL]",
              help="Re-resolve every ref (or only MODEL) even if its pin is current.")
@_JOBS
@click.pass_obj
def lock(obj: _Ctx, check: bool, upgrade: str | None, jobs: int) -> int:
    """Pin every model to a commit in ptm.lock."""
    from ptmlock.project import check_lock, lock_project

    out = Output()
    path = obj.manifest_path()
    if check:
        if upgrade is not None:
            raise click.UsageError("--check and --upgrade cannot be used together.")
        problems = check_lock(path)
        if problems:
            out.error("ptm.lock is stale; run `ptmlock lock` to update it:")
            for line in problems:
                out.info(f"  - {line}")
            return EXIT_CHECK_FAILED
        out.info("ptm.lock is up to date.")
        return 0
    outcome = lock_project(path, upgrade=(upgrade,) if upgrade else (), jobs=jobs, on_wait=out.info)
    r = outcome.result
    if r is None or outcome.lock is None:
        n = outcome.fresh_models
        out.info(f"ptm.lock is up to date: {n} model{'s' if n != 1 else ''} ({n} unchanged).")
        return 0
    for model_id, old, new in r.changed:
        if old is not None:  # a pin that moved; new entries are only counted
            out.info(f"  {model_id}: {old[:12]} -> {new[:12]}")
    deps = sum(1 for m in outcome.lock.models if m.required_by)
    n = len(outcome.lock.models) - deps
    also = f" + {deps} dependenc{'ies' if deps != 1 else 'y'}" if deps else ""
    state = "Updated ptm.lock" if outcome.written else "ptm.lock is up to date"
    out.info(f"{state}: {n} model{'s' if n != 1 else ''}{also} ({len(r.resolved)} resolved, "
             f"{len(r.reused)} unchanged).")
    return 0


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_obj
def list_(obj: _Ctx, as_json: bool) -> int:
    """List models by role, with their pins and sizes."""
    from ptmlock.views.listing import build_listing

    out = Output(json_mode=as_json)
    listing = build_listing(obj.manifest_path())
    if as_json:
        out.json(listing)
        return 0
    if listing["stale"]:
        out.warn("ptm.lock is stale against ptm.toml: run `ptmlock lock`.")
    for role in listing["roles"]:
        kind = f"interchangeable, {len(role['models'])} models" if role["interchangeable"] else "single"
        out.result(f"{role['name']} ({kind})")
        for m in role["models"]:
            mark = "*" if m["selected"] else " "
            requested = m["requested"] or "default branch"
            if m["commit"] is None:
                out.result(f"  {mark} {m['id']}  {requested}  (not locked)")
                continue
            alias = f" ({m['canonical_id']})" if m["canonical_id"] != m["id"] else ""
            out.result(f"  {mark} {m['id']}{alias}  {requested} @ {m['commit'][:12]}  {m['files']} files  "
                       f"{human_size(m['size'])}")
    return 0


# --- verbs: sync / verify (issue 4) ---

def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


_SELECT_ROLE = click.option("--role", "roles", multiple=True, metavar="ROLE",
                            help="Only the models of this role (and the models they need); repeatable.")
_SELECT_MODEL = click.option("--model", "-m", "model_ids", multiple=True, metavar="MODEL",
                             help="Only this model (and the models it needs); repeatable.")
_SYNC_JOBS = click.option("--jobs", "-j", type=click.IntRange(1, 256), default=8, show_default=True,
                          help="Files downloaded at once (huggingface_hub's snapshot_download uses 8).")
_TARGET = click.option("--target", type=click.Path(file_okay=False, path_type=Path), default=None,
                       help="A plain folder per model (DIR/<id>/...) instead of the Hugging Face cache.")


@cli.command()
@_SELECT_ROLE
@_SELECT_MODEL
@_TARGET
@click.option("--offline", is_flag=True, help="Only check what is present; never touch the network. Exit 1 if "
                                             "anything is missing.")
@_SYNC_JOBS
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary; errors only.")
@click.pass_obj
def sync(obj: _Ctx, roles: tuple[str, ...], model_ids: tuple[str, ...], target: Path | None, offline: bool,
         jobs: int, quiet: bool) -> int:
    """Download the pinned files of the locked models, checking every hash."""
    from ptmlock.install.progress import make_progress
    from ptmlock.install.sync import first_error, sync_project

    out = Output(quiet=quiet)
    if not offline and os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        out.info("HF_HUB_OFFLINE is set: checking only, as with --offline.")
        offline = True
    report = sync_project(obj.manifest_path(), roles=roles, model_ids=model_ids, target=target, offline=offline,
                          jobs=jobs, progress=lambda plan: make_progress(
                              out, files=len(plan.tasks), total=sum(t.file.size for t in plan.tasks)))
    for model_id, reason in report.skipped:
        out.warn(f"{model_id}: skipped: {reason}.")
    torch = report.torch.outcomes if report.torch is not None else ()
    n_models = len(report.plan.models) + len(torch)
    n_files = len(report.outcomes) + len(torch)
    where = f"{report.plan.root}" + (f" and {report.torch.hub_dir}" if report.torch is not None else "")
    if report.offline:
        for o in report.missing:
            assert o.problem is not None
            out.result(o.problem.message)
        missing = [t.message for t in torch if t.action == "missing"]
        for line in missing:
            out.result(line)
        n_missing = len(report.missing) + len(missing)
        if n_missing:
            out.error(f"{n_missing} of {_count(n_files, 'file')} missing or altered in {where}. "
                      "Run `ptmlock sync` to fetch them.")
        else:
            out.info(f"All {_count(n_files, 'file')} of {_count(n_models, 'model')} present and intact in {where}.")
        return report.exit_code
    for e in report.errors:
        out.error(str(e))
    done = n_files - len(report.errors)
    downloaded = report.count("downloaded") + sum(1 for t in torch if t.action == "downloaded")
    present = report.count("present") + sum(1 for t in torch if t.action == "present")
    received = report.received + sum(t.received for t in torch)
    out.info(f"Synced {done}/{_count(n_files, 'file')} of {_count(n_models, 'model')} to {where}: "
             f"{downloaded} downloaded ({human_size(received)}), {present} already present, "
             f"{report.count('linked')} linked.")
    err = first_error(report)
    if err is not None and len(report.errors) > 1:
        out.error(f"{len(report.errors)} files failed; the first decides the exit code ({err.exit_code}).")
    return report.exit_code


@cli.command()
@_SELECT_MODEL
@_SELECT_ROLE
@_TARGET
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report (shape in docs/sync-verify.md).")
@click.option("--deep", is_flag=True, help="Re-read every file, ignoring the cache of already verified hashes.")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None,
              help="Files hashed at once (default: one per CPU core).")
@click.pass_obj
def verify(obj: _Ctx, model_ids: tuple[str, ...], roles: tuple[str, ...], target: Path | None, as_json: bool,
           deep: bool, jobs: int | None) -> int:
    """Check the synced files against the hashes in ptm.lock."""
    from ptmlock.install.verify import verify_project

    out = Output(json_mode=as_json)
    report, stale = verify_project(obj.manifest_path(), model_ids=model_ids, roles=roles, target=target, deep=deep,
                                   jobs=jobs)
    if as_json:
        out.json({**report.to_dict(), "stale": stale})
        return 0 if report.ok else EXIT_CHECK_FAILED
    if stale:
        out.warn("ptm.lock is stale against ptm.toml (run `ptmlock lock`); verifying against ptm.lock as it is.")
    for model_id, reason in report.skipped:
        out.warn(f"{model_id}: skipped: {reason}.")
    for problem in report.problems:
        out.result(problem.message)
    files = sum(m.files for m in report.models)
    size = human_size(sum(m.bytes for m in report.models))
    if report.problems:
        out.error(f"{len(report.problems)} of {_count(files, 'file')} missing or altered in {report.root}. "
                  "Run `ptmlock sync` to restore them.")
        return EXIT_CHECK_FAILED
    out.info(f"All {_count(files, 'file')} of {_count(len(report.models), 'model')} intact ({size}; "
             f"{human_size(report.hashed_bytes)} read, {report.cached_files} unchanged since last verified).")
    return 0

# --- verbs: run (issue 3) ---


@cli.command(name="run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--mode", type=click.Choice(POLICIES), default=None,
              help="Guard mode for this run (default: PTMLOCK_MODE, else the manifest's policy, else warn).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append one JSON line per model load to this file (PTMLOCK_REPORT).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def run_(obj: _Ctx, mode: str | None, report: Path | None, command: tuple[str, ...]) -> int:
    """Run COMMAND with the runtime guard on, without editing it: `ptmlock run -- python app.py ARGS`.

    Every Python process COMMAND starts checks its model loads against ptm.lock. Exits with
    COMMAND's exit code.
    """
    from ptmlock.run import run_guarded

    lockfile = obj._manifest.parent / "ptm.lock" if obj._manifest is not None else None
    return run_guarded(command, mode=mode, report=report, lockfile=lockfile)


# --- verbs: scan / check (issue 5) ---


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (schema in docs/scan.md).")
@click.option("--no-cache", is_flag=True, help="Parse every file again instead of using the scan cache.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None, help="Worker processes (default: all cores).")
@click.pass_obj
def scan(obj: _Ctx, paths: tuple[str, ...], as_json: bool, no_cache: bool, jobs: int | None) -> int:
    """Find model loads in Python code (never runs it), with their status against ptm.toml."""
    from ptmlock.gate.check import STATUSES, scan_project

    out = Output(json_mode=as_json)
    manifest_path = obj.optional_manifest_path()
    targets = list(paths) or ["."]
    for target in targets:
        if not os.path.exists(target):
            raise click.BadParameter(f"{target!r} does not exist.", param_hint="PATHS")
    classified, manifest = scan_project(targets, manifest_path=manifest_path, jobs=jobs, use_cache=not no_cache)
    if as_json:
        out.json({"manifest": str(manifest.path) if manifest else None,
                  "findings": [c.to_dict() for c in classified]})
        return 0
    if manifest is None:
        out.warn("no ptm.toml found: every literal model id is reported as undeclared (`ptmlock init --from-code .`).")
    for status in STATUSES:
        group = [c for c in classified if c.status == status]
        if not group:
            continue
        out.result(f"{status} ({len(group)})")
        for c in group:
            f = c.finding
            ids = ", ".join(f.model_ids) if f.model_ids else "<dynamic>"
            rev = f" @ {f.revision}" if f.revision else ""
            ignored = "  [ignored]" if f.ignored else ""
            out.result(f"  {f.path}:{f.line}:{f.col}  {ids}{rev}  ({f.loader}){ignored}")
    if not classified:
        out.info("No model loads found.")
    return 0


@cli.command(name="check")
@click.argument("files", nargs=-1, type=click.Path(path_type=str))
@click.pass_obj
def check_(obj: _Ctx, files: tuple[str, ...]) -> int:
    """The pre-commit / CI gate: fresh lock, and no undeclared or contradicting load in FILES."""
    from ptmlock.gate.check import check

    out = Output()
    problems = check(list(files), manifest_path=obj.manifest_path())
    for problem in problems:
        out.result(problem.render())
    if problems:
        out.info(f"ptmlock check: {len(problems)} problem{'s' if len(problems) != 1 else ''}.")
        return EXIT_CHECK_FAILED
    return 0

# --- verbs: tree (issue 7) ---


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one nested JSON document (docs/dependencies.md).")
@click.option("--files", "show_files", is_flag=True, help="Also list each model's files with their sizes.")
@click.option("--outdated", is_flag=True, help="Mark pins whose branch or tag moved upstream (one hub request per "
                                               "model; without it, tree never touches the network).")
@_JOBS
@click.pass_obj
def tree(obj: _Ctx, as_json: bool, show_files: bool, outdated: bool, jobs: int) -> int:
    """Show roles, their models and each model's transitive model dependencies."""
    from ptmlock.views.tree import build_tree, render_tree

    out = Output(json_mode=as_json)
    doc = build_tree(obj.manifest_path(), files=show_files, outdated=outdated, jobs=jobs)
    if as_json:
        out.json(doc)
        return 0
    if doc["stale"]:
        out.warn("ptm.lock is stale against ptm.toml: run `ptmlock lock`.")
    for line in render_tree(doc):
        out.result(line)
    return 0

# --- verbs: outdated / update / audit / export (issue 6) ---

@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@_JOBS
@click.pass_obj
def outdated(obj: _Ctx, as_json: bool, jobs: int) -> int:
    """Show pins whose branch or tag moved upstream; exit 1 if any did. Writes nothing."""
    from ptmlock.supply.outdated import check_outdated, outdated_summary

    out = Output(json_mode=as_json)
    entries = check_outdated(obj.manifest_path(), jobs=jobs)
    behind = [e for e in entries if e.status == "outdated"]
    if as_json:
        out.json({"models": [e.to_dict() for e in entries], "outdated": len(behind)})
    for e in behind:
        out.result(f"{e.id}  {e.requested or 'default branch'}  {e.commit[:12]} -> {(e.latest or '')[:12]}")
    out.info(outdated_summary(entries))
    return EXIT_CHECK_FAILED if behind else 0


@cli.command()
@click.argument("models", nargs=-1, metavar="[MODEL]...")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@_JOBS
@click.pass_obj
def update(obj: _Ctx, models: tuple[str, ...], dry_run: bool, as_json: bool, jobs: int) -> int:
    """Re-pin MODELs (default: all that follow a branch or tag) and show what changed."""
    from ptmlock.supply.outdated import render_change, update_project, update_summary

    out = Output(json_mode=as_json)
    report = update_project(obj.manifest_path(), models=models, dry_run=dry_run, jobs=jobs, on_wait=out.info)
    if as_json:
        out.json(report.to_dict())
    for change in report.changes:
        if change.changed:
            for line in render_change(change, dry_run=dry_run):
                out.result(line)
    for model_id, reason in report.skipped:
        out.info(f"{model_id}: not updated: {reason}.")
    out.info(update_summary(report))
    return 0


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--deep", is_flag=True, help="Also read the cached pickle files for dangerous imports (never unpickles).")
@click.pass_obj
def audit(obj: _Ctx, as_json: bool, deep: bool) -> int:
    """Apply the [policy] of ptm.toml to the locked models; exit 1 on any finding."""
    from ptmlock.supply.audit import audit_project, render, summary

    out = Output(json_mode=as_json)
    report = audit_project(obj.manifest_path(), deep=deep)
    if as_json:
        out.json(report.to_dict())
    for line in render(report):
        out.result(line)
    out.info(summary(report))
    return EXIT_CHECK_FAILED if report.findings else 0


@cli.command()
@click.option("--format", "fmt", default="cyclonedx", show_default=True, metavar="cyclonedx",
              help="Bill of materials format: cyclonedx (CycloneDX 1.6 JSON).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to FILE (atomically) instead of stdout.")
@click.option("--timestamp", is_flag=True, help="Record the time in metadata.timestamp (SOURCE_DATE_EPOCH is honoured).")
@click.pass_obj
def export(obj: _Ctx, fmt: str, output: Path | None, timestamp: bool) -> int:
    """Export ptm.lock as an ML bill of materials (CycloneDX 1.6)."""
    from ptmlock._fs import atomic_write
    from ptmlock.supply.export import FORMATS, export_project

    if fmt.lower() == "spdx":
        raise click.UsageError("--format spdx (SPDX 3.0 AI profile) is not supported yet; use --format cyclonedx.")
    if fmt.lower() not in FORMATS:
        raise click.UsageError(f"unknown --format {fmt!r}; the supported format is cyclonedx.")
    out = Output()
    text = export_project(obj.manifest_path(), fmt=fmt.lower(), timestamp=timestamp)
    if output is None:
        out.result(text.rstrip("\n"))
        return 0
    try:
        atomic_write(output, text)
    except OSError as e:
        raise click.BadParameter(f"cannot write {output}: {e.strerror or e}.", param_hint="'-o' / '--output'") from None
    out.info(f"Wrote {output} (CycloneDX 1.6).")
    return 0



def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; never lets a traceback reach a user by accident."""
    try:
        rv: Any = cli.main(args=argv, prog_name="ptmlock", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except PtmlockError as e:
        Output().error(str(e))
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug: log it, say so in one line
        log = _log_crash()
        Output().error(f"internal error (a bug in ptmlock): {type(e).__name__}: {e}. "
                       f"The details are in {log}; please report it.")
        if os.environ.get(ENV_DEBUG) == "1":
            click.echo(redact(traceback.format_exc()), err=True)
        return EXIT_INTERNAL


def _log_crash() -> str:
    try:
        import platformdirs

        directory = Path(platformdirs.user_log_dir("ptmlock"))
        directory.mkdir(parents=True, exist_ok=True)
        log = directory / "ptmlock.log"
        with log.open("a", encoding="utf-8") as f:
            f.write(f"ptmlock {__version__} {' '.join(sys.argv[1:])}\n{redact(traceback.format_exc())}\n")
        return str(log)
    except OSError:
        return "(the log could not be written)"

"""Verbs sync, verify, run: putting the pinned bytes on disk and running under the guard."""
from __future__ import annotations

import os
from pathlib import Path

import click

from ptmlock.cli.base import (
    _SELECT_MODEL,
    _SELECT_ROLE,
    _SYNC_JOBS,
    _TARGET,
    _count,
    _Ctx,
    cli,
    jobs_option,
)
from ptmlock.constants import (
    GUARD_MODES,
)
from ptmlock.errors import EXIT_CHECK_FAILED
from ptmlock.output import Output, human_size


@cli.command()
@_SELECT_ROLE
@_SELECT_MODEL
@_TARGET
@click.option("--offline", is_flag=True, help="Only check what is present; never touch the network. Exit 1 if "
                                             "anything is missing.")
@_SYNC_JOBS
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary; errors only.")
@click.option("--source", metavar="NAME", default=None,
              help="Fetch only from this [[source]] of ptm.toml (`hub`: each model's own hub).")
@click.option("--force", is_flag=True, help="With --target: replace files there that ptmlock did not write, or that "
                                           "changed since it wrote them (refused with exit 1 otherwise).")
@click.pass_obj
def sync(obj: _Ctx, roles: tuple[str, ...], model_ids: tuple[str, ...], target: Path | None, offline: bool,
         jobs: int, quiet: bool, source: str | None, force: bool) -> int:
    """Download the pinned files of the locked models, checking every hash."""
    from ptmlock.install.progress import make_progress
    from ptmlock.install.sync import first_error, sync_project

    out = Output(quiet=quiet)
    if not offline and os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        out.info("HF_HUB_OFFLINE is set: checking only, as with --offline.")
        offline = True
    try:
        report = sync_project(obj.manifest_path(), roles=roles, model_ids=model_ids, target=target, offline=offline,
                              jobs=jobs, source=source, force=force, progress=lambda plan: make_progress(
                                  out, files=len(plan.tasks), total=sum(t.file.size for t in plan.tasks)))
    except KeyboardInterrupt:
        raise KeyboardInterrupt("What arrived is kept: run `ptmlock sync` again to resume.") from None
    for line in report.overwritten:
        out.warn(f"{line}: replaced (--force).")
    for model_id, reason in report.skipped:
        out.warn(f"{model_id}: skipped: {reason}.")
    for note in report.notes:
        out.warn(note + ".")
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
@jobs_option("Files hashed", None, "one per CPU core")
@click.option("--signatures", is_flag=True, help="Also re-verify each signed model's model.sig against its synced "
                                                 "files, offline (docs/signing.md).")
@click.pass_obj
def verify(obj: _Ctx, model_ids: tuple[str, ...], roles: tuple[str, ...], target: Path | None, as_json: bool,
           deep: bool, jobs: int | None, signatures: bool) -> int:
    """Check the synced files against the hashes in ptm.lock."""
    from ptmlock.install.verify import verify_project

    out = Output(json_mode=as_json)
    report = verify_project(obj.manifest_path(), model_ids=model_ids, roles=roles, target=target, deep=deep,
                            jobs=jobs)
    signed: list[str] = []
    if signatures:  # issue 16
        from ptmlock.signing.check import verify_project_signatures

        signed = [p.message for p in verify_project_signatures(obj.manifest_path(), model_ids=model_ids,
                                                               roles=roles, target=target)]
    if as_json:
        out.json({**report.to_dict(), **({"signatures": signed} if signatures else {})})
        return 0 if report.ok and not signed else EXIT_CHECK_FAILED
    for line in signed:
        out.result(line)
    for model_id, reason in report.skipped:
        out.warn(f"{model_id}: skipped: {reason}.")
    for problem in report.problems:
        out.result(problem.message)
    files = sum(m.files for m in report.models)
    size = human_size(sum(m.bytes for m in report.models))
    if report.problems:
        where = f"{report.root}" + (f" and {report.torch_dir}" if report.torch_dir is not None else "")
        out.error(f"{len(report.problems)} of {_count(files, 'file')} missing or altered in {where}. "
                  "Run `ptmlock sync` to restore them.")
        return EXIT_CHECK_FAILED
    if signed:
        out.error(f"{_count(len(signed), 'signature problem')}: the synced files are not what the declared "
                  "signer signed.")
        return EXIT_CHECK_FAILED
    if signatures:
        out.info("Every signed model still matches its signature.")
    out.info(f"All {_count(files, 'file')} of {_count(len(report.models), 'model')} intact ({size}; "
             f"{human_size(report.hashed_bytes)} read, {report.cached_files} unchanged since last verified).")
    return 0

# --- verbs: run (issue 3) ---


@cli.command(name="run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--mode", type=click.Choice(GUARD_MODES), default=None,
              help="Guard mode for this run (default: PTMLOCK_MODE, else `policy` in [project] of ptm.toml, else warn).")
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

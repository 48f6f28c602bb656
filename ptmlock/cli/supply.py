"""Verbs outdated, update, audit, export: the supply chain."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ptmlock.cli.base import (
    _JOBS,
    _complete_models,
    _Ctx,
    cli,
)
from ptmlock.errors import EXIT_CHECK_FAILED
from ptmlock.output import Output

if TYPE_CHECKING:
    from ptmlock.supply.audit import AuditReport


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
@click.argument("models", nargs=-1, metavar="[MODEL]...", shell_complete=_complete_models)
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (same as --format json).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default=None,
              help="text (default), json, or sarif (SARIF 2.1.0 for CI code scanning).")
@click.option("--deep", is_flag=True,
              help="Also read every cached file a loader could unpickle, opcode by opcode (never unpickles).")
@click.pass_obj
def audit(obj: _Ctx, as_json: bool, fmt: str | None, deep: bool) -> int:
    """Apply the [policy] of ptm.toml to the locked models; exit 1 on any finding."""
    from ptmlock.supply.audit import audit_project, render, summary

    if as_json and fmt not in (None, "json"):
        raise click.UsageError(f"--json and --format {fmt} disagree; pass one of them.")
    fmt = "json" if as_json else (fmt or "text")
    out = Output(json_mode=fmt != "text")
    manifest = obj.manifest_path()
    report = audit_project(manifest, deep=deep)
    if fmt == "json":
        out.json(report.to_dict())
    elif fmt == "sarif":
        out.json(_sarif(report, manifest))
    for line in render(report):
        out.result(line)
    out.info(summary(report))
    return EXIT_CHECK_FAILED if report.findings else 0


def _sarif(report: AuditReport, manifest: Path) -> dict[str, Any]:
    import os

    from ptmlock import __version__
    from ptmlock.constants import LOCK_NAME
    from ptmlock.supply.sarif import to_sarif

    lock = manifest.parent / LOCK_NAME
    relative = os.path.relpath(lock.resolve(), Path.cwd().resolve())
    uri = Path(relative).as_posix() if not relative.startswith("..") else lock.resolve().as_uri()
    try:
        text: str | None = lock.read_text(encoding="utf-8")
    except OSError:
        text = None
    return to_sarif(report, lock_uri=uri, lock_text=text, version=__version__)


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

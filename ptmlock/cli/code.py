"""Verbs scan, check: model loads in the project's code."""
from __future__ import annotations

import os

import click

from ptmlock.cli.base import (
    _Ctx,
    cli,
    jobs_option,
)
from ptmlock.errors import EXIT_CHECK_FAILED
from ptmlock.output import Output


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (schema in docs/scan.md).")
@click.option("--no-cache", is_flag=True, help="Parse every file again instead of using the scan cache.")
@jobs_option("Worker processes", None, "all cores")
@click.option("--sources", default=None, metavar="KINDS",
              help="Comma-separated source kinds: python, notebook, config, shell (default: [tool] scan-sources, else all).")
@click.pass_obj
def scan(obj: _Ctx, paths: tuple[str, ...], as_json: bool, no_cache: bool, jobs: int | None,
         sources: str | None) -> int:
    """Find model loads in code, notebooks, configs and scripts (never runs them), with their status against ptm.toml."""
    from ptmlock.gate.check import STATUSES, scan_project

    out = Output(json_mode=as_json)
    manifest_path = obj.optional_manifest_path()
    targets = list(paths) or ["."]
    for target in targets:
        if not os.path.exists(target):
            raise click.BadParameter(f"{target!r} does not exist.", param_hint="PATHS")
    kinds = None
    if sources is not None:
        from ptmlock.scan.sources import KINDS

        kinds = [k.strip() for k in sources.split(",") if k.strip()]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise click.BadParameter(f"unknown source kind {', '.join(map(repr, unknown)) or '(none)'}; "
                                     f"the kinds are {', '.join(KINDS)}.", param_hint="'--sources'")
    classified, manifest = scan_project(targets, manifest_path=manifest_path, jobs=jobs, use_cache=not no_cache,
                                        sources=kinds)
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
            out.result(f"  {f.location()}  {ids}{rev}  ({f.loader}){ignored}")
    if not classified:
        out.info("No model loads found.")
    return 0


@cli.command(name="check")
@click.argument("files", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
              help="text: flake8-style lines; json: one document (docs/scan.md); sarif: SARIF 2.1.0 for code scanning.")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems, no summary line.")
@click.pass_obj
def check_(obj: _Ctx, files: tuple[str, ...], fmt: str, quiet: bool) -> int:
    """The pre-commit / CI gate: fresh lock, and no undeclared or contradicting load in FILES.

    With no FILES, or when FILES include ptm.toml or ptm.lock, every file of the project is
    checked.
    """
    from ptmlock.gate.check import check_report

    report = check_report(list(files), manifest_path=obj.manifest_path())
    if fmt != "text":
        from ptmlock.gate.sarif import to_sarif

        Output(json_mode=True).json(to_sarif(report.problems) if fmt == "sarif" else
                                    {"problems": [p.to_dict() for p in report.problems]})
        return EXIT_CHECK_FAILED if report.problems else 0
    out = Output(quiet=quiet)
    for problem in report.problems:
        out.result(problem.render())
    out.info(report.summary())
    return EXIT_CHECK_FAILED if report.problems else 0

"""Verbs init, add, remove, lock, list, tree: the manifest and its lock."""
from __future__ import annotations

import click

from ptmlock.cli.base import (
    _JOBS,
    _Ctx,
    cli,
)
from ptmlock.constants import (
    DEFAULT_GUARD_MODE,
    GUARD_MODES,
    HUBS,
    REPO_TYPES,
)
from ptmlock.errors import EXIT_CHECK_FAILED
from ptmlock.output import Output, human_size


@cli.command()
@click.option("--name", help="Project name (default: the directory name).")
@click.option("--policy", type=click.Choice(GUARD_MODES), default=DEFAULT_GUARD_MODE, show_default=True,
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
@click.option("--check", is_flag=True, help="Exit 1 if ptm.lock is stale or missing, 3 if it is invalid; never writes or "
                                           "asks a hub.")
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
        freshness = check_lock(path)
        freshness.readable()  # invalid: exit 3, naming the field
        if not freshness.fresh:
            out.error(freshness.message())
            for line in freshness.differences if len(freshness.differences) > 1 else ():
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
        out.warn(listing["lock_message"])
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
        out.warn(doc["lock_message"])
    for line in render_tree(doc):
        out.result(line)
    return 0

# --- verbs: outdated / update / audit / export (issue 6) ---

"""The `ptmlock` command line: one short function per verb (parse flags, call core, render)."""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from ptmlock import __version__
from ptmlock.constants import ENV_DEBUG, ENV_JOBS, HUBS, MANIFEST_NAME, POLICIES, REPO_TYPES
from ptmlock.errors import EXIT_CHECK_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, PtmlockError
from ptmlock.output import Output, human_size, redact

_JOBS = click.option("--jobs", "-j", type=click.IntRange(1, 256), default=lambda: int(os.environ.get(ENV_JOBS, 16)),
                     show_default="16", help="Hub requests in flight at once.")


class _Ctx:
    def __init__(self, manifest: Path | None) -> None:
        self._manifest = manifest

    def manifest_path(self) -> Path:
        from ptmlock.manifest import find_manifest

        if self._manifest is not None:
            if not self._manifest.is_file():
                from ptmlock.errors import ManifestError

                raise ManifestError(f"{self._manifest}: file not found. Run `ptmlock init` to create a manifest.")
            return self._manifest
        return find_manifest()

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
@click.pass_obj
def init(obj: _Ctx, name: str | None, policy: str) -> int:
    """Write a starter ptm.toml in the current directory."""
    from ptmlock.project import init_project

    path = init_project(obj.init_path(), name=name, policy=policy)
    Output().info(f"Created {path}. Next: `ptmlock add MODEL` to declare a model.")
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
    pinned = outcome.lock.get(spec.id)
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
    assert outcome.result is not None
    r = outcome.result
    for model_id, old, new in r.changed:
        out.info(f"  {model_id}: {old[:12] + ' -> ' if old else ''}{new[:12]}")
    n = len(outcome.lock.models)
    state = "Updated ptm.lock" if outcome.written else "ptm.lock is up to date"
    out.info(f"{state}: {n} model{'s' if n != 1 else ''} ({len(r.resolved)} resolved, {len(r.reused)} unchanged).")
    return 0


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_obj
def list_(obj: _Ctx, as_json: bool) -> int:
    """List models by role, with their pins and sizes."""
    from ptmlock.listing import build_listing

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

# --- verbs: run (issue 3) ---

# --- verbs: scan / check (issue 5) ---

# --- verbs: outdated / update / audit / export (issue 6) ---


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

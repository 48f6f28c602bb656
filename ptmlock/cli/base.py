"""The click group, the shared context and the options several verbs share."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ptmlock import __version__
from ptmlock.constants import (
    DEFAULT_JOBS,
    ENV_JOBS,
    MANIFEST_NAME,
)

if TYPE_CHECKING:  # click >= 8.2 types ParamType as a generic; older releases cannot subscript it
    from click.shell_completion import CompletionItem

    _IntParam = click.ParamType[int]
else:
    _IntParam = click.ParamType


class _Jobs(_IntParam):
    """A whole number of parallel jobs, 1 to 256 (its help says so once, without click's
    `[default: (32); 1<=x<=256]` rendering: issue 17, item 7)."""

    name = "N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a whole number from 1 to 256.", param, ctx)
        if not 1 <= number <= 256:
            self.fail(f"{number} is not from 1 to 256.", param, ctx)
        return number


def _env_jobs() -> int:
    from ptmlock import settings

    return settings.jobs()


_JOBS = click.option("--jobs", "-j", type=_Jobs(), default=_env_jobs, show_default=False, metavar="N",
                     help=f"Hub requests in flight at once, 1-256 (default: {DEFAULT_JOBS}, or {ENV_JOBS}).")


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


# What users of uv, npm and pip type, mapped to the verb that does it here (issue 17, item 12).
_ALIASES = {"install": "sync", "i": "sync", "download": "sync", "fetch": "sync", "upgrade": "update",
             "uninstall": "remove", "rm": "remove", "ls": "list", "freeze": "export"}


def _set_manifest(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.meta["ptmlock.manifest"] = value  # also seen by shell completion, where no _Ctx exists
        obj = ctx.find_object(_Ctx)
        if obj is not None:
            obj._manifest = value


def _manifest_option() -> click.Option:
    return click.Option(["--manifest"], type=click.Path(dir_okay=False, path_type=Path), default=None,
                        expose_value=False, is_eager=True, callback=_set_manifest,
                        help=f"Path to {MANIFEST_NAME} (default: the nearest one at or above the current "
                             "directory).")


# What shell completion completes after a verb that does not exist: no options, no arguments.
_UNKNOWN_VERB = click.Command("unknown", add_help_option=False,
                              context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


class _Group(click.Group):
    """The verbs' group: every verb also takes `--manifest` after its name, as uv takes
    `--project` anywhere (issue 17, item 8), and an unknown verb gets a suggestion."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(p.name == "manifest" for p in cmd.params):
            cmd.params.append(_manifest_option())
        super().add_command(cmd, name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                             list[str]]:
        name = click.utils.make_str(args[0]) if args else None
        if name is not None and self.get_command(ctx, name) is None and not name.startswith("-") \
                and ctx.resilient_parsing:  # shell completion after an unknown verb: nothing, and no error
            return name, _UNKNOWN_VERB, args[1:]
        if name is not None and self.get_command(ctx, name) is None and not name.startswith("-"):
            from ptmlock.names import closest

            guess = closest(name, [*self.list_commands(ctx), *_ALIASES])  # `instal` -> install -> sync
            hint = _ALIASES.get(guess, guess) if guess is not None else None
            suggestion = f" Did you mean `ptmlock {hint}`?" if hint else ""
            raise click.UsageError(f"No such command {name!r}.{suggestion} (`ptmlock --help` lists them.)", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="ptmlock")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Path to {MANIFEST_NAME} (default: the nearest one at or above the current directory).")
@click.pass_context
def cli(ctx: click.Context, manifest: Path | None) -> None:
    """ptmlock: pin the pre-trained models your project loads.

    ptm.toml declares them, ptm.lock pins each to a commit with file hashes,
    and `import ptmlock.enforce` keeps the running program honest to both.

    Shell completion: `eval "$(ptmlock completion bash)"` (or zsh, fish).
    """
    from ptmlock import settings

    settings.check_environment()  # a bad HF_ENDPOINT or PTMLOCK_* fails here, not after retries
    ctx.obj = _Ctx(manifest)


def _completion_manifest(ctx: click.Context) -> Any:
    """The manifest the command line being completed points at, or None."""
    from ptmlock.errors import PtmlockError
    from ptmlock.manifest.parse import find_manifest, load_manifest

    path = ctx.meta.get("ptmlock.manifest")
    c: click.Context | None = ctx
    while c is not None and path is None:
        path = c.params.get("manifest")
        c = c.parent
    try:
        return load_manifest(path if path is not None else find_manifest())
    except (PtmlockError, OSError):
        return None


def _complete_models(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from click.shell_completion import (
        CompletionItem,  # only when completing: not on every start
    )

    manifest = _completion_manifest(ctx)
    if manifest is None:
        return []
    return [CompletionItem(m.id, help=m.role) for m in manifest.models if m.id.startswith(incomplete)]


def _complete_roles(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    manifest = _completion_manifest(ctx)
    if manifest is None:
        return []
    roles = sorted({m.role for m in manifest.models if m.role} | {r.name for r in manifest.roles})
    return [CompletionItem(r) for r in roles if r.startswith(incomplete)]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


_SELECT_ROLE = click.option("--role", "roles", multiple=True, metavar="ROLE", shell_complete=_complete_roles,
                            help="Only the models of this role (and the models they need); repeatable.")
_SELECT_MODEL = click.option("--model", "-m", "model_ids", multiple=True, metavar="MODEL",
                             shell_complete=_complete_models,
                             help="Only this model (and the models it needs); repeatable.")


def jobs_option(what: str, default: int | None, default_text: str) -> Any:
    """The one `--jobs/-j N` option, 1-256 like every other verb's (issue 24: scan and publish
    took 1-64): `what` runs at once; `default_text` says what None means."""
    return click.option("--jobs", "-j", type=_Jobs(), default=default, metavar="N",
                        help=f"{what} at once, 1-256 (default: {default_text}).")


_SYNC_JOBS = jobs_option("Files downloaded", 8, "8, as huggingface_hub's snapshot_download")
_TARGET = click.option("--target", type=click.Path(file_okay=False, path_type=Path), default=None,
                       help="A plain folder per model (DIR/<id>/...) instead of the Hugging Face cache.")

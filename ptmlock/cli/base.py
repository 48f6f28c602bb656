"""The click group, the shared context and the options several verbs share."""
from __future__ import annotations

import os
from pathlib import Path

import click

from ptmlock import __version__
from ptmlock.constants import (
    DEFAULT_JOBS,
    ENV_JOBS,
    MANIFEST_NAME,
)

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

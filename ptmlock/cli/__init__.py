"""The `ptmlock` command line: `main()` runs the click group with one error handler.

Verbs live in `project`, `install`, `code`, `supply`, `publish`, `doctor` and `shell` (one short
function each: parse flags, call one core function, render); `base` holds the group and the
shared options. The top layer: may import every other layer; nothing imports it."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ptmlock import __version__, settings
from ptmlock.cli import code, doctor, install, project, publish, shell, supply  # noqa: F401  (registers the verbs)
from ptmlock.cli.base import cli
from ptmlock.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, PtmlockError
from ptmlock.output import Output, redact


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
    except (KeyboardInterrupt, click.exceptions.Abort) as e:
        # a verb may say what Ctrl-C left behind: KeyboardInterrupt("...") (click wraps it in Abort)
        cause = e.__cause__ if isinstance(e, click.exceptions.Abort) else e
        note = str(cause) if isinstance(cause, KeyboardInterrupt) else ""
        click.echo("Interrupted." + (f" {note}" if note else ""), err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug: log it, say so in one line
        log = _log_crash()
        Output().error(f"internal error (a bug in ptmlock): {type(e).__name__}: {e}. "
                       f"The details are in {log}; please report it.")
        if settings.debug():
            import traceback

            click.echo(redact(traceback.format_exc()), err=True)
        return EXIT_INTERNAL


def _log_crash() -> str:
    import traceback

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

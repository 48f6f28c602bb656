"""`python -m ptmlock` and the `ptmlock` console script."""
from __future__ import annotations

import gc
import sys


def main() -> int:
    """Run the CLI. `--version` alone is answered before click and the verbs are imported: it is
    what scripts and shell prompts call most, so it costs no more than the interpreter (issue 17).

    Start-up and exit are kept cheap for the read-only verbs (issue 17): no garbage collection
    runs while the modules load (they create only long-lived objects), and what exists when the
    verb returns is frozen (`gc.freeze`), so the interpreter's last collection does not walk it
    again. Cycles are still collected while the verb runs.
    """
    if sys.argv[1:] in (["--version"], ["-V"]):
        from ptmlock import __version__

        sys.stdout.write(f"ptmlock, version {__version__}\n")  # click's version_option wording
        return 0
    gc.disable()
    try:
        from ptmlock.cli import main as cli_main
    finally:
        gc.freeze()
        gc.enable()
    try:
        return cli_main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    raise SystemExit(main())

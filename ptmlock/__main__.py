"""`python -m ptmlock` and the `ptmlock` console script."""
from __future__ import annotations

import sys


def main() -> int:
    """Run the CLI. `--version` alone is answered before click and the verbs are imported: it is
    what scripts and shell prompts call most, so it costs no more than the interpreter (issue 17)."""
    if sys.argv[1:] in (["--version"], ["-V"]):
        from ptmlock import __version__

        sys.stdout.write(f"ptmlock, version {__version__}\n")  # click's version_option wording
        return 0
    from ptmlock.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())

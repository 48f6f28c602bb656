"""`ptmlock doctor`: how the runtime guard sees this environment (issue 13)."""
from __future__ import annotations

import click

from ptmlock.cli.base import cli
from ptmlock.errors import EXIT_CHECK_FAILED
from ptmlock.output import Output


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for CI).")
@click.option("--no-probe", is_flag=True,
              help="Do not import the ML libraries to check the hooks (fast; `hooked` is then unknown).")
def doctor(as_json: bool, no_probe: bool) -> int:
    """Show ptmlock's version, Hugging Face settings, the manifest and lock the guard would use,
    each supported library's version and hooks, and the guard mode. Exits 1 when something
    keeps the guard from doing its whole job."""
    from ptmlock.doctor import diagnose

    out = Output(json_mode=as_json)
    d = diagnose(probe=not no_probe)
    if as_json:
        out.json(d.to_dict())
        return EXIT_CHECK_FAILED if d.problems else 0
    out.result(f"ptmlock {d.ptmlock_version}, Python {d.python}")
    for key, value in d.settings.items():
        out.result(f"  {key}: {value}")
    out.result(f"manifest: {d.manifest or 'not found'}")
    fresh = {True: "fresh", False: "STALE", None: "no manifest to compare with"}[d.lock_fresh]
    out.result(f"lock: {d.lock + ' (' + fresh + ')' if d.lock else 'not found'}")
    out.result(f"guard mode: {d.mode} (from {d.mode_source})")
    out.result("libraries:")
    shared = [lib.distribution for lib in d.libraries]
    for lib in d.libraries:  # torch has two adapters (torch.hub, torch.load): each line names its own
        label = f" ({lib.adapter.replace('_', '.')} adapter)" if shared.count(lib.distribution) > 1 else ""
        if lib.installed is None:
            out.result(f"  {lib.distribution}{label}: not installed")
            continue
        tested = {True: "tested", False: "NOT TESTED", None: "unknown version"}[lib.in_tested_range]
        hooked = {True: "hooked", False: "HOOKS FAILED", None: "hooks not probed"}[lib.hooked]
        out.result(f"  {lib.distribution} {lib.installed}{label}: {tested} ({lib.tested}), {hooked}")
    for problem in d.problems:
        out.warn(problem)
    return EXIT_CHECK_FAILED if d.problems else 0

"""Verb completion: the shell completion script, so `ptmlock <TAB>` completes verbs, options,
and model ids and roles from the project's ptm.toml (issue 17, item 12)."""
from __future__ import annotations

import click

from ptmlock.cli.base import cli
from ptmlock.output import Output

_SHELLS = ("bash", "zsh", "fish")


@cli.command()
@click.argument("shell", type=click.Choice(_SHELLS))
def completion(shell: str) -> int:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash:  echo 'eval "$(ptmlock completion bash)"' >> ~/.bashrc
    zsh:   echo 'eval "$(ptmlock completion zsh)"' >> ~/.zshrc
    fish:  ptmlock completion fish > ~/.config/fish/completions/ptmlock.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # click ships all three
    Output().result(cls(cli, {}, "ptmlock", "_PTMLOCK_COMPLETE").source().rstrip("\n"))
    return 0

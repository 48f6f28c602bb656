"""The synopsis blocks of docs/commands/*.md, generated from `ptmlock VERB --help` (issue 24).

    python tests/docs_synopses.py           # exit 1 and name the blocks that differ from --help
    python tests/docs_synopses.py --write   # rewrite them from --help

A block is the fenced text after a `<!-- synopsis: VERB -->` line; its content is exactly what
`ptmlock VERB --help` prints at a width of 88 columns. tests/test_docs_synopses.py runs the check
and also requires every verb to have exactly one block.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

PAGES = Path(__file__).resolve().parent.parent / "docs" / "commands"
WIDTH = 88
_BLOCK = re.compile(r"(<!-- synopsis: (?P<verb>[a-z-]+) -->\n```text\n)(?P<body>.*?)(```)", re.DOTALL)


def help_text(verb: str) -> str:
    """What `ptmlock VERB --help` prints, at WIDTH columns."""
    from click.testing import CliRunner

    from ptmlock.cli import cli

    result = CliRunner().invoke(cli, [verb, "--help"], prog_name="ptmlock", terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    return result.output


def verbs() -> list[str]:
    from ptmlock.cli import cli

    return sorted(cli.commands)


def blocks() -> dict[str, list[tuple[Path, str]]]:
    """verb -> [(page, block text)] for every synopsis block in docs/commands/."""
    found: dict[str, list[tuple[Path, str]]] = {}
    for page in sorted(PAGES.glob("*.md")):
        for m in _BLOCK.finditer(page.read_text(encoding="utf-8")):
            found.setdefault(m.group("verb"), []).append((page, m.group("body")))
    return found


def write() -> list[Path]:
    """Rewrite every block from --help; returns the pages that changed."""
    changed = []
    for page in sorted(PAGES.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        new = _BLOCK.sub(lambda m: m.group(1) + help_text(m.group("verb")) + m.group(4), text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
    return changed


def stale() -> list[str]:
    """One line per verb whose block differs from --help, has no block, or has several."""
    found = blocks()
    out = []
    for verb in verbs():
        where = found.get(verb, [])
        if len(where) != 1:
            out.append(f"{verb}: {len(where)} synopsis blocks in docs/commands/ (want exactly 1)")
        elif where[0][1] != help_text(verb):
            out.append(f"{verb}: the block in {where[0][0].name} differs from `ptmlock {verb} --help`")
    out += [f"{verb}: a block for a verb ptmlock does not have" for verb in sorted(set(found) - set(verbs()))]
    return out


def main(argv: list[str]) -> int:
    if "--write" in argv:
        for page in write():
            print(f"rewrote {page}")
    problems = stale()
    for line in problems:
        print(line)
    if problems and "--write" not in argv:
        print("run: python tests/docs_synopses.py --write")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

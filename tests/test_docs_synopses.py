"""Every verb has one page section in docs/commands/ whose synopsis block is exactly its
`--help` (issue 24: the README's sync/verify synopses missed --source, --force, --role,
--target, --jobs and --signatures). Regenerate with `python tests/docs_synopses.py --write`."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from docs_synopses import PAGES, blocks, help_text, stale, verbs

ROOT = Path(__file__).parent.parent


def test_every_verb_has_one_synopsis_equal_to_its_help():
    assert set(verbs()) >= {"init", "add", "remove", "role", "lock", "list", "tree", "sync", "verify", "run",
                            "scan", "check", "audit", "export", "outdated", "update", "publish", "doctor",
                            "completion"}
    assert stale() == []


def test_every_page_is_in_the_index_and_every_verb_has_a_section():
    index = (PAGES / "README.md").read_text(encoding="utf-8")
    for page in sorted(PAGES.glob("*.md")):
        if page.name != "README.md":
            assert f"]({page.name})" in index, page.name
    for verb, [(page, _)] in blocks().items():
        assert f"`ptmlock {verb}`" in page.read_text(encoding="utf-8"), (verb, page.name)


def test_the_check_sees_a_block_that_differs(tmp_path, monkeypatch):
    import docs_synopses

    page = tmp_path / "x.md"
    page.write_text("<!-- synopsis: sync -->\n```text\nUsage: ptmlock sync [OPTIONS]\n```\n")
    monkeypatch.setattr(docs_synopses, "PAGES", tmp_path)
    problems = docs_synopses.stale()
    assert "sync: the block in x.md differs from `ptmlock sync --help`" in problems
    assert "verify: 0 synopsis blocks in docs/commands/ (want exactly 1)" in problems
    assert docs_synopses.write() == [page]
    assert page.read_text().endswith(help_text("sync") + "```\n")


def test_the_links_of_the_command_pages_exist():
    for page in sorted(PAGES.glob("*.md")):
        for target in re.findall(r"\]\(([^)#:]+)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), (page.name, target)


def test_the_script_checks_from_the_shell():
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "docs_synopses.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

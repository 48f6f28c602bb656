"""`python -m ptmlock.testing serve [--root DIR] [--port N] [--demo] [--token T] [--latency S]`,
and the admin commands that change a hub, served or not, from the shell:

    python -m ptmlock.testing commit --root DIR org/tiny config.json model.safetensors=./weights.bin
    python -m ptmlock.testing branch --root DIR org/tiny dev --revision main
    python -m ptmlock.testing tag    --root DIR org/tiny v1.0 --revision main

`serve` prints `endpoint=http://127.0.0.1:PORT`, `root=DIR` and one `model=ID main=SHA` (or
`dataset=...`) line per repo it serves on stdout once the hub is listening (`GET /api/models`
lists them too), then serves until interrupted (Ctrl-C or SIGTERM). Without `--root` it serves
from a new temporary folder, deleted on exit. A running `serve` sees what the admin commands (or any
other `LocalHub` on the same root) change at its next request: "upstream moved" can be played
from a shell. Each admin command prints the commit sha it made or pointed at.
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ptmlock.testing import LocalHub, populate_demo


def serve(root: str | None, *, port: int = 0, demo: bool = False, tokens: Sequence[str] = (),
          latency: float = 0.0) -> int:
    """Serve the hub stored under `root` (a temporary folder when None) until SIGINT/SIGTERM;
    returns the exit code."""
    if root is None:
        with tempfile.TemporaryDirectory(prefix="ptmlock-hub-") as tmp:
            return serve(tmp, port=port, demo=demo, tokens=tokens, latency=latency)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    hub = LocalHub(root, port=port)
    hub.tokens.update(tokens)
    hub.latency = latency
    if demo:
        populate_demo(hub)
    with hub:
        sys.stdout.write(f"endpoint={hub.endpoint}\nroot={Path(root).resolve()}\n")
        for repo_type in ("model", "dataset"):  # what a newcomer can load, and its pinned commit
            for repo in hub.repos(repo_type):
                sha = hub.resolve_revision(repo, "main")
                sys.stdout.write(f"{repo_type}={repo.repo_id}" + (f" main={sha[:12]}" if sha else "") + "\n")
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    return 0


def _files(specs: Sequence[str]) -> dict[str, bytes]:
    """`PATH_IN_REPO=LOCAL_FILE` or `LOCAL_FILE` (kept under its own name) -> {path in repo: bytes}."""
    files = {}
    for spec in specs:
        target, sep, local = spec.partition("=")
        source = Path(local if sep else spec)
        try:
            files[target if sep else source.name] = source.read_bytes()
        except OSError as e:
            raise SystemExit(f"error: cannot read {source}: {e.strerror or e}") from None
    return files


def _admin(args: argparse.Namespace) -> int:
    hub = LocalHub(args.root)  # not started: it writes to the root a running `serve` reads
    try:
        if args.command == "commit":
            sha = hub.commit(args.repo, _files(args.files), message=args.message, branch=args.branch,
                             repo_type=args.type, delete=args.delete)
        elif args.command == "branch":
            sha = hub.move_branch(args.repo, args.name, args.revision, repo_type=args.type)
        else:
            sha = hub.create_tag(args.repo, args.name, revision=args.revision, repo_type=args.type,
                                 exist_ok=args.force)
    except (KeyError, ValueError) as e:
        sys.stderr.write(f"error: {e.args[0] if e.args else e}\n")
        return 1
    sys.stdout.write(sha + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m ptmlock.testing`."""
    parser = argparse.ArgumentParser(prog="python -m ptmlock.testing",
                                     description="A local Hugging Face compatible hub backed by git repos.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the repos under --root over HTTP on 127.0.0.1")
    serve_parser.add_argument("--root", default=None,
                              help="folder holding the hub's repos (created if missing; default: a temporary "
                                   "folder deleted on exit)")
    serve_parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    serve_parser.add_argument("--demo", action="store_true", help="add tiny generated demo repos first")
    serve_parser.add_argument("--token", action="append", default=[], help="a valid access token (repeatable)")
    serve_parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")

    def admin(name: str, help_text: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help_text)
        p.add_argument("--root", required=True, help="the hub's folder (the one `serve` printed as root=)")
        p.add_argument("repo", help="repo id, e.g. org/tiny")
        p.add_argument("--type", default="model", choices=("model", "dataset"), help="repo type (default: model)")
        return p

    commit = admin("commit", "commit files to a repo (created if missing)")
    commit.add_argument("files", nargs="*", metavar="[PATH_IN_REPO=]FILE", help="a local file to commit")
    commit.add_argument("--branch", default="main", help="branch to commit to (default: main)")
    commit.add_argument("--message", default="Upload files", help="commit message")
    commit.add_argument("--delete", action="append", default=[], metavar="PATH", help="a path to delete (repeatable)")
    branch = admin("branch", "create a branch or move it to a revision, like a force push")
    branch.add_argument("name", help="branch name")
    branch.add_argument("--revision", default="main", help="branch, tag or commit to point at (default: main)")
    tag = admin("tag", "create a tag at a revision")
    tag.add_argument("name", help="tag name")
    tag.add_argument("--revision", default="main", help="branch, tag or commit to tag (default: main)")
    tag.add_argument("--force", action="store_true", help="move the tag if it exists")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.root, port=args.port, demo=args.demo, tokens=args.token, latency=args.latency)
    return _admin(args)


if __name__ == "__main__":
    raise SystemExit(main())

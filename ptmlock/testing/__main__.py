"""`python -m ptmlock.testing serve --root DIR [--port N] [--demo] [--token T] [--latency S]`.

Prints `endpoint=http://127.0.0.1:PORT` on stdout once the hub is listening, then serves until
interrupted (Ctrl-C or SIGTERM). Point huggingface_hub at it with `HF_ENDPOINT`.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ptmlock.testing import LocalHub, populate_demo


def serve(root: str, *, port: int = 0, demo: bool = False, tokens: Sequence[str] = (), latency: float = 0.0) -> int:
    """Serve the hub stored under `root` until SIGINT/SIGTERM; returns the exit code."""
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
        sys.stdout.write(f"endpoint={hub.endpoint}\n")
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m ptmlock.testing`."""
    parser = argparse.ArgumentParser(prog="python -m ptmlock.testing",
                                     description="A local Hugging Face compatible hub backed by git repos.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the repos under --root over HTTP on 127.0.0.1")
    serve_parser.add_argument("--root", required=True, help="folder holding the hub's repos (created if missing)")
    serve_parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    serve_parser.add_argument("--demo", action="store_true", help="add tiny generated demo repos first")
    serve_parser.add_argument("--token", action="append", default=[], help="a valid access token (repeatable)")
    serve_parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    args = parser.parse_args(argv)
    return serve(args.root, port=args.port, demo=args.demo, tokens=args.token, latency=args.latency)


if __name__ == "__main__":
    raise SystemExit(main())

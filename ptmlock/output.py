"""Every print goes through here: human or --json, stdout for results, stderr for diagnostics.

Colour is used only on a terminal and never when `NO_COLOR` is set to a non-empty value. Everything printed is
passed through `redact()`, so a token in an error or URL never reaches the screen.
"""
from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, TextIO

import click

_TOKEN_RE = re.compile(r"\bhf_[A-Za-z0-9]{8,}\b")
_URL_AUTH_RE = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]+(?::[^/@\s]*)?@", re.IGNORECASE)
_BEARER_RE = re.compile(r"(?i)(authorization:\s*(?:bearer|basic)\s+|bearer\s+)\S+")


def redact(text: str) -> str:
    """`text` with tokens, URL credentials and bearer headers replaced by `***`."""
    # PTMLOCK_OCI_* also covers a [[source]]'s own `credentials-env` variables (issue 22)
    secret = [n for n in os.environ if n.startswith("PTMLOCK_OCI_") and not n.endswith(("_HOSTS", "USERNAME", "_USER"))]
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", *secret):
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    text = _TOKEN_RE.sub("hf_***", text)
    text = _URL_AUTH_RE.sub(lambda m: m.group("scheme") + "***@", text)
    return _BEARER_RE.sub(lambda m: m.group(1) + "***", text)


def _use_colour(stream: TextIO) -> bool:
    # no-color.org: only a non-empty NO_COLOR disables colour (issue 17, item 13)
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


class Output:
    """One sink for a command's output: human text or one sorted JSON document."""

    def __init__(self, *, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet

    def result(self, text: str = "") -> None:
        """A line of the command's result, on stdout (suppressed in --json mode)."""
        if not self.json_mode:
            click.echo(redact(text))

    def json(self, data: Any) -> None:
        """The command's whole result as one sorted JSON document on stdout."""
        click.echo(redact(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)))

    def info(self, text: str) -> None:
        """A diagnostic line on stderr (progress, summaries), silenced by --quiet."""
        if not self.quiet:
            click.echo(redact(text), err=True)

    def warn(self, text: str) -> None:
        """A warning on stderr."""
        click.echo(self.style("warning: ", fg="yellow", bold=True, err=True) + redact(text), err=True)

    def error(self, text: str) -> None:
        """An error on stderr."""
        click.echo(self.style("error: ", fg="red", bold=True, err=True) + redact(text), err=True)

    def style(self, text: str, *, err: bool = False, **styles: Any) -> str:
        """`text` styled with click.style when the stream is a colour terminal."""
        return click.style(text, **styles) if _use_colour(sys.stderr if err else sys.stdout) else text


def human_size(n: int) -> str:
    """Bytes as a short human size: 512 B, 1.5 KiB, 420.1 MiB."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")

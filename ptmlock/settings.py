"""Every setting ptmlock reads from the environment, parsed and checked in one place.

A setting that is set but wrong (`HF_ENDPOINT=127.0.0.1:8765`, `PTMLOCK_HUB_TIMEOUT=ten`) is a
configuration mistake: it fails at once with `SettingsError` (exit 2) naming the variable, the
value and what a valid one looks like, instead of being ignored or retried until a deadline
(issue 17, item 5). An unset or empty variable means the default. Each function reads the
environment when called, so tests and long-lived processes see changes. Importing this module
parses nothing and imports only `os` and ptmlock's constants (issue 21: the guard reads its mode
here on `import ptmlock.enforce`).
"""
from __future__ import annotations

import os

from ptmlock.constants import (
    DEFAULT_HUB_DEADLINE,
    DEFAULT_HUB_TIMEOUT,
    DEFAULT_JOBS,
    DEFAULT_STALL_TIMEOUT,
    ENV_DEBUG,
    ENV_HUB_DEADLINE,
    ENV_HUB_TIMEOUT,
    ENV_JOBS,
    ENV_MODE,
    ENV_STALL_TIMEOUT,
    ENV_TORCHHUB_URL,
    GUARD_MODES,
)
from ptmlock.errors import SettingsError

TYPE_CHECKING = False
if TYPE_CHECKING:  # `import ptmlock.enforce` reads PTMLOCK_MODE here: typing and urllib would cost it ~5 ms
    from collections.abc import Callable
    from typing import TypeVar

    N = TypeVar("N", int, float)

ENV_HF_ENDPOINT = "HF_ENDPOINT"
DEFAULT_TORCHHUB_URL = "https://github.com"
MAX_JOBS = 256


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def seconds(name: str, default: float) -> float:
    """`name` as a positive number of seconds; `default` when unset or empty.

    Raises:
        SettingsError: the value is not a positive, finite number.
    """
    return _number(name, default, float, lambda x: 0 < x < float("inf"),
                   f"is not a number of seconds: use a positive number, e.g. {name}={default:g} (the default)")


def count(name: str, default: int, *, maximum: int) -> int:
    """`name` as a whole number from 1 to `maximum`; `default` when unset or empty.

    Raises:
        SettingsError: the value is not such a number.
    """
    return _number(name, default, int, lambda x: 1 <= x <= maximum,
                   f"is not a whole number from 1 to {maximum}: use e.g. {name}={default} (the default)")


def _number(name: str, default: N, parse: Callable[[str], N], ok: Callable[[N], bool], why: str) -> N:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = parse(value)
    except ValueError:
        number = None
    if number is None or not ok(number):
        raise SettingsError(f"{name}={os.environ[name]!r} {why}.")
    return number


def choice(name: str, choices: tuple[str, ...]) -> str | None:
    """`name` as one of `choices` (case-insensitive), or None when unset or empty.

    Raises:
        SettingsError: the value is not one of `choices`.
    """
    value = _raw(name)
    if value is None:
        return None
    if value.lower() not in choices:
        raise SettingsError(f"{name}={os.environ[name]!r} is not one of {', '.join(choices)}: use e.g. "
                            f"{name}={choices[-1]}.")
    return value.lower()


def url(name: str, default: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """`name` as a URL with one of `schemes` and a host, without a trailing slash; `default`
    when unset or empty.

    Raises:
        SettingsError: no scheme, another scheme, no host, or a malformed port.
    """
    value = _raw(name)
    if value is None:
        return default.rstrip("/")
    from urllib.parse import urlsplit

    example = f"{name}=http://127.0.0.1:8765" if name == ENV_HF_ENDPOINT else f"{name}={default}"
    problem = None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        problem = "it has a malformed host or port"
    else:
        if "://" not in value:
            problem = "it has no scheme"
        elif parts.scheme.lower() not in schemes:
            problem = f"its scheme {parts.scheme!r} is not {' or '.join(schemes)}"
        elif not parts.hostname and parts.scheme.lower() != "file":
            problem = "it has no host"
    if problem is not None:
        raise SettingsError(f"{name}={os.environ[name]!r} is not a valid URL: {problem}. A valid one looks like "
                            f"{example} ({' or '.join(s + '://' for s in schemes)}, a host, an optional port).")
    return value.rstrip("/")


def hub_timeout() -> float:
    """Seconds per hub request: `PTMLOCK_HUB_TIMEOUT`, default 10."""
    return seconds(ENV_HUB_TIMEOUT, DEFAULT_HUB_TIMEOUT)


def hub_deadline() -> float:
    """Total seconds of retries per model or file: `PTMLOCK_HUB_DEADLINE`, default 60."""
    return seconds(ENV_HUB_DEADLINE, DEFAULT_HUB_DEADLINE)


def stall_timeout() -> float:
    """Seconds a download may make no progress before it is cut and resumed: `PTMLOCK_STALL_TIMEOUT`, default 30."""
    return seconds(ENV_STALL_TIMEOUT, DEFAULT_STALL_TIMEOUT)


def jobs() -> int:
    """Hub requests in flight at once: `PTMLOCK_JOBS` (1 to 256), default 32."""
    return count(ENV_JOBS, DEFAULT_JOBS, maximum=MAX_JOBS)


def guard_mode() -> str | None:
    """`PTMLOCK_MODE` (off, warn or strict), or None when unset."""
    return choice(ENV_MODE, GUARD_MODES)


def hf_endpoint(default: str) -> str:
    """The Hugging Face endpoint: `HF_ENDPOINT` (an http(s) URL), else `default`."""
    return url(ENV_HF_ENDPOINT, default)


def torchhub_url() -> str:
    """The git host torchhub repos resolve against: `PTMLOCK_TORCHHUB_URL`, else github.com.

    git also takes `file://` URLs, so a local mirror of repos works too.
    """
    return url(ENV_TORCHHUB_URL, DEFAULT_TORCHHUB_URL, schemes=("https", "http", "file"))


def debug() -> bool:
    """Whether `PTMLOCK_DEBUG=1` asks for tracebacks of internal errors."""
    return _raw(ENV_DEBUG) == "1"


def problems() -> list[str]:
    """One message per environment setting ptmlock reads that is set but invalid."""
    found = []
    for read in (hub_timeout, hub_deadline, stall_timeout, jobs, guard_mode, torchhub_url, lambda: hf_endpoint("")):
        try:
            read()
        except SettingsError as e:
            found.append(str(e))
    return found


def check_environment() -> None:
    """Fail on the first invalid environment setting; the CLI calls this before any verb runs.

    Raises:
        SettingsError: a setting is set to an invalid value.
    """
    found = problems()
    if found:
        raise SettingsError(found[0] if len(found) == 1 else " ".join(found))

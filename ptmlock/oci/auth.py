"""Registry credentials, found the way Docker and oras find them, bound to hosts, never written anywhere.

Order: `PTMLOCK_OCI_TOKEN` (a ready bearer token), `PTMLOCK_OCI_USERNAME` + `PTMLOCK_OCI_PASSWORD`,
then the Docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): an
`auths` entry for the host (`auth` = base64 `user:password`, or `username`/`password`), else
its `credHelpers` entry or `credsStore` (`docker-credential-<name> get`). A malformed setting is
an error, never silently skipped (docs/threat-model.md: the environment).

Binding (issue 22): the environment's credentials go only to the hosts `PTMLOCK_OCI_HOSTS`
lists, so a registry a pull request adds to ptm.toml never receives them. A `[[source]]` may
name its own variables (`credentials-env`, all named `PTMLOCK_OCI_*`); they go to that source's
host (and, when `PTMLOCK_OCI_HOSTS` is set, only if it lists it). The Docker config is keyed by
host already. `refusal()` is the one rule for where credentials may travel: never over plain
HTTP off this machine, never to another host than the registry's unless listed.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ptmlock.errors import RegistryAuthError, SettingsError
from ptmlock.oci.layout import is_loopback

ENV_USERNAME = "PTMLOCK_OCI_USERNAME"
ENV_PASSWORD = "PTMLOCK_OCI_PASSWORD"
ENV_TOKEN = "PTMLOCK_OCI_TOKEN"
ENV_HOSTS = "PTMLOCK_OCI_HOSTS"
CREDENTIAL_KEYS = ("password", "token", "username")  # the keys of a [[source]]'s `credentials-env`
MAX_CHALLENGE = 8 * 1024  # a WWW-Authenticate header longer than this is not a challenge ptmlock answers
# One parameter at a time, from a position (never `finditer` over the rest: that was quadratic).
# The closing quote is optional so that a quoted value never makes the match backtrack.
_PARAM = re.compile(r'([A-Za-z_]+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)("?)|([^,\s"]*))')
_TOKEN = re.compile(r"[!-~]{1,65536}")  # visible ASCII: no space, newline or control character
_ENV_NAME = re.compile(r"PTMLOCK_OCI_[A-Z0-9_]{1,64}")


@dataclass(frozen=True)
class Credentials:
    """What to answer a registry's challenge with. `origin` names where they came from (for
    messages); the secrets are left out of `repr`."""

    origin: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def basic(self) -> str | None:
        """The `Authorization: Basic` value, or None without a username and password."""
        if self.username is None or self.password is None:
            return None
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def listed_hosts() -> tuple[str, ...] | None:
    """`PTMLOCK_OCI_HOSTS`: the registry hosts (`host` or `host:port`, comma or space separated)
    the environment's credentials may go to; None when it is not set.

    Raises:
        SettingsError: an entry that is not a host name with an optional port.
    """
    raw = os.environ.get(ENV_HOSTS)
    if raw is None or not raw.strip():
        return None
    hosts = []
    for entry in re.split(r"[,\s]+", raw.strip().lower()):
        if _split_host(entry) is None or not re.fullmatch(r"[a-z0-9.:\[\]-]+", entry):  # no wildcards, no URLs
            raise SettingsError(f"{ENV_HOSTS} lists {entry[:100]!r}, which is not a registry host (HOST or "
                                f"HOST:PORT). Write e.g. {ENV_HOSTS}=registry.internal:5000,ghcr.io")
        hosts.append(entry)
    return tuple(hosts)


def _split_host(host: str) -> tuple[str, int | None] | None:
    """(hostname, port or None) of `host[:port]`, or None when it is not one."""
    try:
        parts = urlsplit("//" + host)
        return (parts.hostname, parts.port) if parts.hostname else None
    except ValueError:  # a bad port, an unclosed "[" of an IPv6 address
        return None


def same_host(a: str, b: str) -> bool:
    """Whether `host[:port]` values `a` and `b` name the same machine (ports aside)."""
    x, y = _split_host(a.lower()), _split_host(b.lower())
    return x is not None and y is not None and x[0] == y[0]


def is_listed(host: str, hosts: Sequence[str] | None) -> bool:
    """Whether `host[:port]` is in `hosts` (an entry without a port matches every port)."""
    target = _split_host(host.lower())
    if target is None or not hosts:
        return False
    for entry in hosts:
        listed = _split_host(entry)
        if listed is not None and listed[0] == target[0] and listed[1] in (None, target[1]):
            return True
    return False


def refusal(scheme: str, host: str, *, registry: str, hosts: Sequence[str] | None) -> str | None:
    """Why credentials meant for `registry` must not go to `scheme://host`, or None when they may:
    only over HTTPS (or to this machine), and only to the registry's own host or a listed one."""
    if scheme != "https" and not is_loopback(host):
        return f"ptmlock never sends credentials over plain HTTP to {host}, which is not this machine"
    if not same_host(host, registry) and not is_listed(host, hosts):
        return (f"{host} is another host than the registry {registry}, and {ENV_HOSTS} does not list it "
                "(list it there if it is the registry's own token service)")
    return None


def credentials_env_problem(value: object) -> str | None:
    """What is wrong with a `[[source]]`'s `credentials-env` table, or None when it is valid:
    `{ token = "PTMLOCK_OCI_..." }` or `{ username = "PTMLOCK_OCI_...", password = "PTMLOCK_OCI_..." }`."""
    if not isinstance(value, dict) or not value:
        return "`credentials-env` must be a table: { token = \"VAR\" } or { username = \"VAR\", password = \"VAR\" }"
    keys = set(value)
    if not keys <= set(CREDENTIAL_KEYS) or keys not in ({"token"}, {"username", "password"}):
        return ("`credentials-env` takes either `token`, or `username` and `password` (the names of environment "
                f"variables), not {', '.join(sorted(str(k) for k in keys))}")
    for key, name in value.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name) or name in (ENV_USERNAME, ENV_PASSWORD,
                                                                                   ENV_TOKEN, ENV_HOSTS):
            return (f"`credentials-env.{key}` must name an environment variable PTMLOCK_OCI_<NAME> (capitals, digits, "
                    f"'_') other than {ENV_USERNAME}, {ENV_PASSWORD}, {ENV_TOKEN} and {ENV_HOSTS}, so that no other "
                    "secret of the environment can be sent to a registry")
    return None


def find_credentials(host: str, *, names: Mapping[str, str] | None = None,
                     hosts: Sequence[str] | None = None) -> Credentials | None:
    """The credentials for registry `host` (`host[:port]`), or None (anonymous). `names` are the
    variables a `[[source]]` names (`credentials-env`); `hosts` is `listed_hosts()`.

    Raises:
        RegistryAuthError: half-set environment variables, a token with a newline, or an
            unreadable Docker config.
    """
    if names:
        found = _from_env(names.get("username"), names.get("password"), names.get("token"))
        if found is not None and (hosts is None or is_listed(host, hosts)):
            return found
    elif is_listed(host, hosts):
        found = _from_env(ENV_USERNAME, ENV_PASSWORD, ENV_TOKEN)
        if found is not None:
            return found
    else:
        _from_env(ENV_USERNAME, ENV_PASSWORD, ENV_TOKEN)  # malformed is an error even where they do not apply
    return _from_docker_config(host)


def unbound_note(host: str, *, names: Mapping[str, str] | None = None, hosts: Sequence[str] | None = None) -> str:
    """Why environment credentials that are set were not used for `host` ("" when none were left out)."""
    variables = sorted(names.values()) if names else [ENV_TOKEN, ENV_USERNAME, ENV_PASSWORD]
    set_ = [v for v in variables if os.environ.get(v)]
    if not set_ or is_listed(host, hosts) or (names and hosts is None):
        return ""
    where = f"{ENV_HOSTS} does not list {host}" if hosts is not None else f"{ENV_HOSTS} is not set"
    return f"{'/'.join(set_)} {'is' if len(set_) == 1 else 'are'} set but not sent here, as {where}"


def _from_env(user_var: str | None, password_var: str | None, token_var: str | None) -> Credentials | None:
    token = os.environ.get(token_var) if token_var else None
    if token:
        if not _TOKEN.fullmatch(token):
            raise RegistryAuthError(f"{token_var} holds a character no token has (a space, a newline or a control "
                                    "character). Set it to the token alone.")
        return Credentials(origin=str(token_var), token=token)
    user = os.environ.get(user_var) if user_var else None
    password = os.environ.get(password_var) if password_var else None
    if user or password:
        if not (user and password):
            missing = password_var if user else user_var
            raise RegistryAuthError(f"{user_var} and {password_var} go together, but {missing} is not set. "
                                    "Set both, or unset both to use the Docker config.")
        return Credentials(origin=f"{user_var}/{password_var}", username=user, password=password)
    return None


def docker_config_path() -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (as the docker CLI reads it)."""
    directory = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(directory) / "config.json"


def _from_docker_config(host: str) -> Credentials | None:
    path = docker_config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise RegistryAuthError(f"{path}: cannot read the Docker config ({type(e).__name__}). Fix or remove it "
                                "(`docker login` rewrites it), or set DOCKER_CONFIG to another folder.") from None
    if not isinstance(data, dict):
        raise RegistryAuthError(f"{path}: the Docker config is not a JSON object. Fix or remove it.")
    auths = data.get("auths")
    auths = auths if isinstance(auths, dict) else {}
    for key, entry in auths.items():
        if _host_of(str(key)) != host or not isinstance(entry, dict):
            continue
        found = _entry_credentials(entry, f"{path} (auths.{key})")
        if found is not None:
            return found
    helpers = data.get("credHelpers")
    helpers = helpers if isinstance(helpers, dict) else {}
    helper = helpers.get(host) or data.get("credsStore")
    if isinstance(helper, str) and helper:
        return _from_helper(helper, host)
    return None


def _host_of(key: str) -> str:
    """`https://host:port/v1/` and `host:port` both name `host:port`."""
    key = re.sub(r"^[a-z]+://", "", key.strip().lower())
    return key.split("/", 1)[0]


def _entry_credentials(entry: dict[str, object], origin: str) -> Credentials | None:
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, password = base64.b64decode(auth, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise RegistryAuthError(f"{origin}: `auth` is not base64 of user:password. Run `docker login` again.")
        return Credentials(origin=origin, username=user, password=password)
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name:
        return Credentials(origin=origin, username=name, password=secret)
    if entry.get("identitytoken"):
        raise RegistryAuthError(f"{origin}: only an OAuth identity token is stored, which ptmlock does not use. "
                                f"Set {ENV_USERNAME}/{ENV_PASSWORD} or {ENV_TOKEN} instead.")
    return None


def _from_helper(helper: str, host: str) -> Credentials | None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", helper):
        raise RegistryAuthError(f"The Docker config names the credential helper {helper!r}, which is not a valid name.")
    binary = f"docker-credential-{helper}"
    try:
        proc = subprocess.run([binary, "get"], input=host.encode(), capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RegistryAuthError(f"The Docker config asks {binary} for the credentials of {host}, but it could not "
                                f"run ({type(e).__name__}). Install it, or remove it from the Docker config.") from None
    if proc.returncode != 0:  # "credentials not found in native keychain": anonymous
        return None
    try:
        payload = json.loads(proc.stdout)
        user, secret = payload["Username"], payload["Secret"]
    except (ValueError, KeyError, TypeError):
        raise RegistryAuthError(f"{binary} answered something other than its JSON for {host}.") from None
    if not isinstance(user, str) or not isinstance(secret, str):
        raise RegistryAuthError(f"{binary} answered something other than its JSON for {host}.")
    return Credentials(origin=binary, username=user, password=secret)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`WWW-Authenticate: Bearer realm="...",service="...",scope="..."` -> ("bearer", params).

    Linear in the header's length, and a header over `MAX_CHALLENGE` characters is no challenge
    ("", {}): a registry cannot make ptmlock spend more than a moment on it.
    """
    if len(header) > MAX_CHALLENGE:
        return "", {}
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while True:
        while pos < len(rest) and rest[pos] in " \t,":
            pos += 1
        if pos >= len(rest):
            break
        m = _PARAM.match(rest, pos)
        if m is None:
            comma = rest.find(",", pos)
            if comma < 0:
                break
            pos = comma + 1
            continue
        if m.group(2) is not None and not m.group(3):  # an unclosed quote: the rest is not a challenge
            break
        value = m.group(2) if m.group(2) is not None else m.group(4)
        params.setdefault(m.group(1).lower(), re.sub(r"\\(.)", r"\1", value))
        pos = max(m.end(), pos + 1)
    return scheme.lower(), params

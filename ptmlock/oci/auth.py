"""Registry credentials, found the way Docker and oras find them, and never written anywhere.

Order: `PTMLOCK_OCI_TOKEN` (a ready bearer token), `PTMLOCK_OCI_USERNAME` + `PTMLOCK_OCI_PASSWORD`,
then the Docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): an
`auths` entry for the host (`auth` = base64 `user:password`, or `username`/`password`), else
its `credHelpers` entry or `credsStore` (`docker-credential-<name> get`). A malformed setting is
an error, never silently skipped (docs/threat-model.md: the environment).
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ptmlock.errors import RegistryAuthError

ENV_USERNAME = "PTMLOCK_OCI_USERNAME"
ENV_PASSWORD = "PTMLOCK_OCI_PASSWORD"
ENV_TOKEN = "PTMLOCK_OCI_TOKEN"
_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


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


def find_credentials(host: str) -> Credentials | None:
    """The credentials for registry `host` (`host[:port]`), or None (anonymous).

    Raises:
        RegistryAuthError: half-set environment variables, or an unreadable Docker config.
    """
    token = os.environ.get(ENV_TOKEN)
    if token:
        return Credentials(origin=ENV_TOKEN, token=token)
    user, password = os.environ.get(ENV_USERNAME), os.environ.get(ENV_PASSWORD)
    if user or password:
        if not (user and password):
            missing = ENV_PASSWORD if user else ENV_USERNAME
            raise RegistryAuthError(f"{ENV_USERNAME} and {ENV_PASSWORD} go together, but {missing} is not set. "
                                    "Set both, or unset both to use the Docker config.")
        return Credentials(origin=f"{ENV_USERNAME}/{ENV_PASSWORD}", username=user, password=password)
    return _from_docker_config(host)


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
    """`WWW-Authenticate: Bearer realm="...",service="...",scope="..."` -> ("bearer", params)."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}
    return scheme.lower(), params

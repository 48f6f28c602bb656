"""Read a few files of a torchhub repo at its pinned commit (issue 26: `hubconf.py` and the
modules it imports, where the weight URLs of its entry points live).

The commit is fetched into a temporary bare repository (`torchhub.fetch_commit`: shallow on smart
HTTP, full on dumb HTTP), then single blobs are read with `git ls-tree` and `git cat-file`.
Nothing is checked out and nothing is run. A path that is not a regular file at the commit (a
symlink, a folder, a submodule) reads as absent; a file over `limit` bytes is not read.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from ptmlock.constants import HUB_TORCHHUB
from ptmlock.errors import IntegrityError
from ptmlock.hubs.torchhub import Git, fetch_commit, parse_torchhub_id, remote_url
from ptmlock.lockfile.model import LockedModel
from ptmlock.manifest.model import ModelSpec
from ptmlock.output import redact

# `<mode> SP <type> SP <object> SP+ <size> TAB <path>` (ls-tree -l -z); only regular files count
_ENTRY = re.compile(rb"^(100644|100755) blob ([0-9a-f]{40}) +(\d+)\t(.+)$", re.S)


class TooLarge(Exception):
    """A file over the caller's size limit (its size is `args[0]`)."""


class CommitFiles:
    """The files of one locked torchhub commit; a context manager that removes its temporary repo.

    Raises (on entering):
        RevisionNotFoundError: the remote no longer has the commit. IntegrityError: it did not
        deliver it. Other HubErrors: see `torchhub.Git.run`.
    """

    def __init__(self, model: LockedModel, *, base: str | None = None, git: Git | None = None) -> None:
        self.model = model
        self.git = git if git is not None else Git()
        repo = parse_torchhub_id(ModelSpec(id=model.id, hub=HUB_TORCHHUB, revision=model.requested))
        self.remote = remote_url(repo, base)
        self._tmp: Path | None = None

    def __enter__(self) -> CommitFiles:
        self._tmp = Path(tempfile.mkdtemp(prefix="ptmlock-hubconf-"))
        try:
            git_dir = str(self._tmp)
            self.git.run(["init", "-q", "--bare", git_dir], model_id=self.model.id, remote=self.remote)
            fetch_commit(self.git, self.remote, self.model.commit, git_dir, self.model.id)
            code, out = self._local(["rev-parse", "--verify", "-q", f"{self.model.commit}^{{commit}}"])
            if code != 0 or out.strip().decode("ascii", "replace") != self.model.commit:
                raise IntegrityError(f"{self.model.id}: the git remote {redact(self.remote)} did not deliver commit "
                                     f"{self.model.commit}. Nothing was written. Run `ptmlock lock` again.")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def sizes(self, paths: list[str]) -> dict[str, int]:
        """The size of each of `paths` that is a regular file at the commit (absent ones left out)."""
        wanted = [p for p in dict.fromkeys(paths) if p and not p.startswith(("-", "/"))]
        if not wanted:
            return {}
        code, out = self._local(["ls-tree", "-l", "-z", "--full-tree", self.model.commit, "--", *wanted])
        found: dict[str, int] = {}
        for record in out.split(b"\0") if code == 0 else []:
            m = _ENTRY.match(record)
            path = m.group(4).decode("utf-8", "surrogateescape") if m else None
            if m is not None and path in wanted:
                found[str(path)] = int(m.group(3))
        return found

    def read(self, path: str, *, limit: int) -> bytes | None:
        """The bytes of regular file `path` at the commit, or None when there is none.

        Raises:
            TooLarge: the file has more than `limit` bytes (it is not read).
        """
        size = self.sizes([path]).get(path)
        if size is None:
            return None
        if size > limit:
            raise TooLarge(size)
        code, out = self._local(["cat-file", "blob", f"{self.model.commit}:{path}"])
        return out[:limit] if code == 0 else None

    def _local(self, args: list[str]) -> tuple[int, bytes]:
        """A git command on the temporary repository (no network): exit code and stdout bytes."""
        assert self._tmp is not None, "CommitFiles is used outside its `with` block"
        proc = subprocess.run(["git", "-C", str(self._tmp), *args], env=self.git.env(), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=60, check=False)
        return proc.returncode, proc.stdout

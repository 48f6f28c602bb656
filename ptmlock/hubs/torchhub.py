"""The torchhub backend: `owner/repo[:ref]` git repositories, as `torch.hub.load` names them.

A ref is resolved to a commit with one `git ls-remote` against `<base>/<owner>/<repo>.git`,
where the base is `PTMLOCK_TORCHHUB_URL` (default `https://github.com`, what torch.hub
downloads from); any git remote works, smart or "dumb" HTTP. No ref means the remote's
default branch (`HEAD`); a branch wins over a tag of the same name, as torch.hub assumes. A
full commit SHA that no ref points at is checked by fetching it (`git fetch --depth 1`).

The lock records the commit only (`files = []`): the commit already names every byte of the
tree, and listing files would cost a fetch of the whole snapshot. `ptmlock sync` fetches it.
The git CLI is the only git client; it runs with prompts disabled and a C locale, so its
errors can be read and turned into ours.
"""
from __future__ import annotations

import os
import posixpath
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ptmlock import settings
from ptmlock._net import STALL_MIN_RATE, NetLimits, Retry, is_refused, with_retries
from ptmlock.constants import ENV_TORCHHUB_URL, HUB_TORCHHUB
from ptmlock.errors import HubError, IntegrityError, ManifestError, RepoNotFoundError
from ptmlock.errors import RevisionNotFoundError, UnsafeHubAnswerError
from ptmlock.lockfile.model import COMMIT_RE, LockedModel
from ptmlock.manifest.model import ModelSpec
from ptmlock.output import redact

# (issue 7, part 3) kept here rather than in constants.py while the torchhub backend is new

_NAME = re.compile(r"^[\w\-.]+$")
_HEX = re.compile(r"^[0-9a-f]{7,40}$")
_TRANSPORT = ("could not resolve host", "failed to connect", "couldn't connect", "connection refused",
              "connection timed out", "operation timed out", "connection reset", "timed out",
              "empty reply from server", "recv failure", "ssl_connect", "network is unreachable",
              "operation too slow")
_NOT_FOUND = ("not found", "returned error: 404", "does not appear to be a git repository", "returned error: 410")
_AUTH = ("returned error: 401", "returned error: 403", "authentication failed", "could not read username",
         "could not read password", "terminal prompts disabled")



def torchhub_base() -> str:
    """The git host torchhub repos are resolved against: `PTMLOCK_TORCHHUB_URL`, else github.com."""
    return settings.torchhub_url()


@dataclass(frozen=True)
class TorchHubRepo:
    """A declared torchhub model: owner, repo and the ref asked for (None: the default branch)."""

    owner: str
    name: str
    ref: str | None

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"


def parse_torchhub_id(spec: ModelSpec) -> TorchHubRepo:
    """Split `spec.id` (`owner/repo[:ref]`) and `spec.revision` into a `TorchHubRepo`.

    Raises:
        ManifestError: the id is malformed, or it names a ref that contradicts `revision`.
    """
    repo, sep, ref_in_id = spec.id.partition(":")
    owner, slash, name = repo.partition("/")
    bad = not slash or any(not _NAME.match(p) or p in (".", "..") for p in (owner, name))
    if bad or (sep and not ref_in_id):
        raise ManifestError(f"{spec.id!r} is not a torchhub repo: write 'owner/repo' or 'owner/repo:ref', as "
                            "torch.hub.load takes it.")
    ref = spec.revision
    if sep and ref is not None and ref != ref_in_id:
        raise ManifestError(f"{spec.id!r} names the ref {ref_in_id!r} but its revision is {ref!r} in ptm.toml. "
                            "Keep one of them.")
    return TorchHubRepo(owner, name, ref if ref is not None else (ref_in_id or None))


class Git:
    """Runs the git CLI against one remote under the network rules (`ptmlock._net`)."""

    def __init__(self, *, timeout: float | None = None, deadline: float | None = None) -> None:
        self.limits = NetLimits.from_env(timeout=timeout, deadline=deadline)

    def env(self) -> dict[str, str]:
        """The environment git runs in: no prompts, English messages, no user-wide hooks, and
        curl's low-speed cut set to the download stall rule."""
        env = dict(os.environ)
        env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C",
                    "GIT_HTTP_LOW_SPEED_LIMIT": str(STALL_MIN_RATE),
                    "GIT_HTTP_LOW_SPEED_TIME": str(max(1, int(self.limits.stall)))})
        return env

    def run(self, args: list[str], *, model_id: str, remote: str, ref: str | None = None,
            transfer: bool = False) -> str:
        """`git <args>`; returns stdout. Transport failures and 5xx are retried until the deadline.

        An attempt is cut at the deadline, except a `transfer` (a fetch, which may be large),
        which git itself aborts when under `STALL_MIN_RATE` bytes a second for the stall time.

        Raises:
            RepoNotFoundError, RevisionNotFoundError, HubUnavailableError, HubError: with the fix.
        """

        def attempt(left: float) -> str:
            code, out, err = self._once(args, timeout=None if transfer else max(1.0, left))
            if code == 0:
                return out
            self._raise(code, err, model_id=model_id, remote=remote, ref=ref, left=left)
            raise AssertionError("unreachable")

        return with_retries(attempt, limits=self.limits, source=f"The git remote {redact(remote)}",
                            subject=f"torchhub repo {model_id!r}", fix=f"Check your connection or {ENV_TORCHHUB_URL}")

    @staticmethod
    def _raise(code: int, err: str, *, model_id: str, remote: str, ref: str | None, left: float) -> None:
        low = err.lower()
        last = _last_line(err) or f"git exited with {code}"
        if code == -1:
            raise Retry(f"no answer in {max(1.0, left):.0f}s")
        if _unknown_object(low):
            slug = model_id.partition(":")[0]
            raise RevisionNotFoundError(
                f"Commit {ref!r} of torchhub repo {slug!r} does not exist at {redact(remote)}. Use an existing "
                f"branch, tag or commit: `ptmlock add {slug}:REF --hub torchhub`.")
        if any(s in low for s in _AUTH):
            raise RepoNotFoundError(
                f"torchhub repo {model_id!r} was not found at {redact(remote)} (or it is private: {last}). "
                f"Check the owner and repo name (`ptmlock remove {model_id}` drops it from ptm.toml); for a private "
                "repo, set up git credentials for that host.")
        if any(s in low for s in _NOT_FOUND):
            raise RepoNotFoundError(
                f"torchhub repo {model_id!r} was not found at {redact(remote)} ({last}). Check the owner and repo "
                f"name for typos (`ptmlock remove {model_id}` drops it from ptm.toml), or {ENV_TORCHHUB_URL} if "
                "you use a mirror.")
        if any(s in low for s in _TRANSPORT) or re.search(r"returned error: (5\d\d|408|429)", low) is not None:
            raise Retry(last, refused=is_refused(low))
        raise HubError(f"git failed for torchhub repo {model_id!r} at {redact(remote)}: {last}. Check "
                       f"{ENV_TORCHHUB_URL} and your git setup, then try again.")

    def _once(self, args: list[str], *, timeout: float | None) -> tuple[int, str, str]:
        try:
            proc = subprocess.Popen(["git", *args], env=self.env(), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)
        except FileNotFoundError:
            raise HubError("The git command is needed to lock and sync torchhub models, and it is not on PATH. "
                           "Install git and try again.") from None
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # git spawns git-remote-http: stop the whole group
            proc.communicate()
            return -1, "", ""
        return proc.returncode, out, err


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].removeprefix("fatal: ").removeprefix("error: ") if lines else ""


def _unknown_object(low: str) -> bool:
    return any(s in low for s in ("unable to find", "not our ref", "couldn't find remote ref",
                                  "no such remote ref", "unadvertised object", "cannot obtain needed object"))


def remote_url(repo: TorchHubRepo, base: str | None = None) -> str:
    """`<base>/<owner>/<repo>.git`."""
    return f"{(base or torchhub_base()).rstrip('/')}/{repo.owner}/{repo.name}.git"


def ls_remote(git: Git, remote: str, model_id: str) -> dict[str, str]:
    """Every ref the remote advertises, `HEAD` included: ref name -> 40-hex commit.

    Raises:
        UnsafeHubAnswerError: a line that is not `<40-hex>\\t<ref>`.
        HubError subclasses: see `Git.run`.
    """
    out = git.run(["ls-remote", "--", remote], model_id=model_id, remote=remote)
    refs: dict[str, str] = {}
    for line in out.splitlines():
        sha, tab, name = line.partition("\t")
        if not line.strip():
            continue
        if not tab or not COMMIT_RE.match(sha) or not name:
            raise UnsafeHubAnswerError(
                f"The git remote {redact(remote)} answered torchhub repo {model_id!r} with the ref line {line!r}, "
                f"which is not '<40-hex commit> <ref>'. ptmlock refuses to pin it. Check {ENV_TORCHHUB_URL}.")
        refs[name] = sha
    return refs


def pick_ref(refs: dict[str, str], ref: str | None) -> str | None:
    """The commit `ref` names among `refs` (None: the default branch), or None. Pure.

    A branch wins over a tag of the same name (torch.hub's rule); an annotated tag is peeled; a
    hex prefix of 7+ characters matches the commit of an advertised ref when exactly one does.
    """
    if ref is None:
        return refs.get("HEAD")
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if name in refs and (name.startswith("refs/") or name == "HEAD"):
            peeled = refs.get(f"{name}^{{}}")
            return peeled if peeled is not None else refs[name]
    low = ref.lower()
    if _HEX.match(low):
        commits = {sha for name, sha in refs.items() if f"{name}^{{}}" not in refs}  # not annotated tag objects
        hits = {sha for sha in commits if sha.startswith(low)}
        if len(hits) == 1:
            return hits.pop()
    return None


def fetch_commit(git: Git, remote: str, commit: str, git_dir: str, model_id: str) -> None:
    """Fetch `commit` (and what it needs) into the bare repository `git_dir`.

    Tries a shallow fetch first (smart HTTP); dumb HTTP servers cannot do shallow, so it then
    fetches without `--depth`.

    Raises:
        RevisionNotFoundError: the remote has no such commit. Other HubErrors as `Git.run`.
    """
    try:
        git.run(["-C", git_dir, "fetch", "-q", "--no-tags", "--depth=1", "--", remote, commit],
                model_id=model_id, remote=remote, ref=commit, transfer=True)
        return
    except HubError as e:
        if "shallow" not in e.message.lower():
            raise
    git.run(["-C", git_dir, "fetch", "-q", "--no-tags", "--", remote, commit],
            model_id=model_id, remote=remote, ref=commit, transfer=True)


class TorchHubBackend:
    """Resolve `torchhub` models with `git ls-remote` against `PTMLOCK_TORCHHUB_URL`."""

    def __init__(self, *, base: str | None = None, timeout: float | None = None,
                 deadline: float | None = None) -> None:
        self.base = (base or torchhub_base()).rstrip("/")
        self.git = Git(timeout=timeout, deadline=deadline)

    def current_commit(self, spec: ModelSpec) -> str:
        """The commit the declared ref (or the default branch) points at now.

        Raises:
            ManifestError: a malformed id. RevisionNotFoundError: no such ref.
            RepoNotFoundError, HubUnavailableError, HubError, UnsafeHubAnswerError: see `Git.run`.
        """
        repo = parse_torchhub_id(spec)
        remote = remote_url(repo, self.base)
        refs = ls_remote(self.git, remote, spec.id)
        found = pick_ref(refs, repo.ref)
        if found is not None:
            return found
        if repo.ref is not None and len(repo.ref) == 40 and _HEX.match(repo.ref.lower()):
            commit = repo.ref.lower()
            with tempfile.TemporaryDirectory(prefix="ptmlock-git-") as tmp:
                self.git.run(["init", "-q", "--bare", tmp], model_id=spec.id, remote=remote)
                fetch_commit(self.git, remote, commit, tmp, spec.id)
            return commit
        if repo.ref is None:
            raise RevisionNotFoundError(
                f"torchhub repo {spec.id!r} at {redact(remote)} has no default branch (no HEAD). Name a branch or "
                f"tag: `ptmlock add {repo.slug}:REF --hub torchhub`.")
        names = sorted(n.removeprefix("refs/heads/") for n in refs if n.startswith("refs/heads/"))
        raise RevisionNotFoundError(
            f"Ref {repo.ref!r} of torchhub repo {repo.slug!r} does not exist at {redact(remote)} (branches: "
            f"{', '.join(names[:10]) or 'none'}{', ...' if len(names) > 10 else ''}). Use an existing branch, tag "
            f"or full commit: `ptmlock add {repo.slug}:REF --hub torchhub`.")

    def resolve(self, spec: ModelSpec) -> LockedModel:
        """Pin `spec` to a commit; see `Backend.resolve`. The lock records no files for torchhub."""
        commit = self.current_commit(spec)
        return LockedModel(id=spec.id, commit=commit, hub=spec.hub, repo_type=spec.repo_type,
                           requested=spec.revision, role=spec.role, include=spec.files, files=(),
                           entries=spec.entries)


# --- torch.hub's own folders, and the pinned tree for sync


def torch_hub_dir() -> Path:
    """`torch.hub.get_dir()` as torch computes it from the environment (`set_dir` aside)."""
    # the same expression as torch.hub._get_torch_home, so an empty XDG_CACHE_HOME behaves the same
    home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")))
    return Path(home) / "hub"


def checkpoint_dir(hub_dir: Path | None = None) -> Path:
    """`<hub_dir>/checkpoints`, where `load_state_dict_from_url` keeps downloaded weights."""
    return (hub_dir if hub_dir is not None else torch_hub_dir()) / "checkpoints"


def checkout(model: LockedModel, tmp: Path) -> None:
    """Fetch the pinned commit into `tmp/git` and write its tree (what GitHub's zipball holds) to `tmp/tree`.

    This is the torchhub backend's fetch: `sync` moves `tmp/tree` into torch.hub's folder.

    Raises:
        IntegrityError: the remote did not deliver the commit, or its tree holds an unsafe path.
        HubError subclasses: see `Git.run`.
    """
    git = Git()
    repo = parse_torchhub_id(ModelSpec(id=model.id, hub=HUB_TORCHHUB, revision=model.requested))
    remote = remote_url(repo)
    git_dir = str(tmp / "git")
    git.run(["init", "-q", "--bare", git_dir], model_id=model.id, remote=remote)
    fetch_commit(git, remote, model.commit, git_dir, model.id)
    got = git.run(["-C", git_dir, "rev-parse", "--verify", "-q", f"{model.commit}^{{commit}}"],
                  model_id=model.id, remote=remote).strip()
    if got != model.commit:
        raise IntegrityError(f"{model.id}: the git remote {redact(remote)} did not deliver commit {model.commit}. "
                             "Nothing was changed. Run `ptmlock sync` again.")
    tree = tmp / "tree"
    tree.mkdir()
    # `git archive` honours export-ignore, as GitHub's zipball (what torch.hub downloads) does
    proc = subprocess.Popen(["git", "-C", git_dir, "archive", "--format=tar", model.commit], env=git.env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                _extract(model, tar, member, tree)
    finally:
        proc.stdout.close()
        err = proc.stderr.read() if proc.stderr is not None else b""
        code = proc.wait()
    if code != 0:
        raise IntegrityError(f"{model.id}: git could not write commit {model.commit[:12]} "
                             f"({err.decode(errors='replace').strip()}). Nothing was changed.")


def _extract(model: LockedModel, tar: tarfile.TarFile, member: tarfile.TarInfo, tree: Path) -> None:
    name = member.name.rstrip("/")
    parts = name.split("/")
    if (not name or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts)
            or posixpath.normpath(name) != name):
        raise IntegrityError(f"{model.id}: commit {model.commit[:12]} holds the unsafe path {member.name!r}. "
                             "ptmlock refuses to write it; nothing was changed.")
    target = tree.joinpath(*parts)
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
    elif member.isreg():
        target.parent.mkdir(parents=True, exist_ok=True)
        src = tar.extractfile(member)
        assert src is not None
        with open(target, "wb") as out:
            shutil.copyfileobj(src, out)
        if member.mode & 0o111:
            os.chmod(target, 0o755)
    elif member.issym():
        # a symlink becomes a file holding its target, as zipfile writes GitHub's zipball entries
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(member.linkname, encoding="utf-8")

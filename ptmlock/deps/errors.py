"""The messages of dependency errors (issue 7): each names the parent, the file and the fix."""
from __future__ import annotations

from ptmlock.constants import HUB_URL
from ptmlock.deps.find import Edge
from ptmlock.errors import (
    GatedRepoError,
    HubError,
    ManifestError,
    RepoNotFoundError,
    RevisionNotFoundError,
)
from ptmlock.lockfile.model import LockedModel


def _ref(revision: str | None) -> str:
    return "the default branch" if revision is None else f"revision {revision!r}"


def _why(edge: Edge) -> str:
    if edge.source and edge.source in edge.reason:
        return edge.reason
    where = f", in {edge.source}" if edge.source else ", as ptm.lock records"
    return f"{edge.reason}{where}"


def hub_error(edge: Edge, error: HubError) -> HubError:
    """`error` (from resolving `edge.target`) re-worded to say which model needs it and why."""
    if edge.hub == HUB_URL:  # issue 26: a weight URL of a torchhub repo's hubconf.py
        fix = (f"Narrow the entry points `lock` follows with `entries = [...]` on {edge.parent!r} in ptm.toml, or pin "
               f"{edge.parent!r} to a commit whose hubconf.py names a file that exists.")
        cause = error.message
        if isinstance(error, RepoNotFoundError):
            cause = "the server has no such file (HTTP 404 or 410)."
        elif isinstance(error, GatedRepoError):
            cause = "the server refused access (HTTP 401 or 403); ptmlock sends no credentials for weight URLs."
        return type(error)(f"{edge.parent!r} needs the weight file {edge.target!r} ({_why(edge)}), and it could not "
                           f"be fetched: {cause} {fix}")
    need = f"{edge.parent!r} needs model {edge.target!r} at {_ref(edge.revision)} ({_why(edge)})"
    if isinstance(error, RepoNotFoundError):
        return RepoNotFoundError(
            f"{need}, but the hub has no such model (or hides it from this token). Fix the reference in "
            f"{edge.parent!r} or pin {edge.parent!r} to a revision that names an existing model; if the model is "
            "private, set HF_TOKEN to a token that can read it.")
    if isinstance(error, RevisionNotFoundError):
        return RevisionNotFoundError(
            f"{need}, but that revision does not exist. Pin {edge.parent!r} to a revision whose "
            f"{edge.source or 'file'} names an existing revision, or ask its authors to fix it.")
    cls = GatedRepoError if isinstance(error, GatedRepoError) else type(error)
    return cls(f"{need}, and it could not be resolved: {error.message}")


def cycle_error(cycle: list[tuple[str, Edge | None]]) -> ManifestError:
    """A loop of models needing each other: `cycle` is [(model, edge that leads to the next)]."""
    steps = [f"{cycle[0][0]!r}"]
    for (_, edge), (name, _) in zip(cycle, cycle[1:]):
        assert edge is not None
        steps.append(f"needs {name!r} ({_why(edge)})")
    return ManifestError(
        "Dependency cycle: " + ", which ".join(steps) + ". Models cannot need each other in a loop, so ptmlock "
        "cannot lock them. Fix the reference in one of these repos, or pin one of them (`revision` in ptm.toml) "
        "to a commit that does not need the next.")


def declared_conflict(edge: Edge, declared: LockedModel) -> ManifestError:
    """`edge` asks for a declared model at a revision its lock entry does not pin."""
    return ManifestError(
        f"{edge.parent!r} needs {declared.id!r} at {_ref(edge.revision)} ({_why(edge)}), but ptm.toml declares "
        f"{declared.id!r} at {_ref(declared.requested)} (locked at {declared.commit[:12]}), so that load would "
        f"contradict the lock. Declare it at the revision {edge.parent!r} needs (`ptmlock add "
        f"{declared.id}{'@' + edge.revision if edge.revision else ''}`), or remove it from ptm.toml and let ptmlock "
        f"lock it as a dependency of {edge.parent!r}.")


def revision_conflict(first: Edge, other: Edge) -> ManifestError:
    """Two models need the same dependency at revisions that do not agree."""
    return ManifestError(
        f"{first.target!r} is needed at two revisions: {_ref(first.revision)} by {first.parent!r} ({_why(first)}) "
        f"and {_ref(other.revision)} by {other.parent!r} ({_why(other)}). ptm.lock pins one commit per model and "
        "the runtime guard would refuse the other load. Pin one of the two models to a revision that asks for the "
        "same revision of it.")

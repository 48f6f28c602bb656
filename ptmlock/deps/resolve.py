"""Transitive model dependencies, resolved and locked with the declared models (issue 7).

A model can need other repos: a peft adapter its base model, a config's cross-repo `auto_map`
code, a diffusers pipeline a component or custom pipeline in another repo, a
sentence-transformers module its code (`deps.find` says exactly which files and fields).
`expand_dependencies` reads those small JSON files at each model's pinned commit (only the
files the lock's file list shows, so a model without them costs nothing), resolves every repo
they name like a declared model (one request each, concurrently, retried), and repeats for the
new models until nothing new is named. Each dependency is locked with `required-by` (the models
that need it directly) and `reason`.

Re-use: a model whose commit did not change keeps the dependencies the old lock records for it
(no file is read), and a dependency whose parents did not move keeps its pin (no request); so
re-locking an unchanged project makes zero requests. `--upgrade` re-reads and re-resolves the
dependencies of the models it names. A repo the manifest declares is never a dependency: the
declared entry serves it (its revision must agree), and ptm.lock records no edge to it.

Raises `ManifestError` for a cycle or revisions that disagree, and the hub's errors re-worded to
name the model that needs the missing repo and the file that names it.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from ptmlock.constants import HUB_HUGGINGFACE, HUB_TORCHHUB, HUB_URL
from ptmlock.decide import MATCHES_LOCK, PINNED, Pin, Request, decide
from ptmlock.deps import errors
from ptmlock.deps.hubconf import hubconf_edges
from ptmlock.deps.find import (
    CONFIG,
    Edge,
    files_to_read,
    find_edges,
    join_reasons,
    reasons_for,
)
from ptmlock.errors import GatedRepoError, HubError, PtmlockError
from ptmlock.hubs.base import Backend, ask_each
from ptmlock.lockfile.model import Lock, LockedModel
from ptmlock.manifest.model import ModelSpec
from ptmlock.pins import PinIndex

T = TypeVar("T")


@dataclass(frozen=True)
class Expansion:
    """What `expand_dependencies` found: the dependency entries (sorted by id) and what moved."""

    models: tuple[LockedModel, ...]
    resolved: tuple[str, ...]  # dependency ids asked of the hub
    changed: tuple[tuple[str, str | None, str], ...]  # (id, old commit or None, new commit)


def expand_dependencies(
    top: Sequence[LockedModel],
    old_lock: Lock | None,
    *,
    moved: Collection[str],
    forced: Collection[str],
    backend_for: Callable[[str], Backend],
    jobs: int,
) -> Expansion:
    """Lock every model the declared models `top` need, transitively.

    `moved` are the (case-folded) ids of declared models whose pin is new or changed in this run;
    `forced` those whose dependencies must be re-read and re-resolved (`lock --upgrade`).

    Raises:
        ManifestError: a dependency cycle, or two models needing one repo at disagreeing revisions
            (or a declared one at a revision ptm.toml does not pin).
        HubError, UnsafeHubAnswerError: a dependency or one of the files naming it could not be read.
    """
    return _Walk(top, old_lock, moved, forced, backend_for, jobs).run()


def _norm(revision: str | None) -> str | None:
    return None if revision == "main" else revision


def _agrees(revision: str | None, model: LockedModel) -> bool:
    pin = Pin(model.id, model.hub, model.repo_type, model.requested, model.commit, model.canonical_id)
    return decide(Request(model.id, revision), pin, "strict").kind in (PINNED, MATCHES_LOCK)


class _Walk:
    def __init__(self, top: Sequence[LockedModel], old_lock: Lock | None, moved: Collection[str],
                 forced: Collection[str], backend_for: Callable[[str], Backend], jobs: int) -> None:
        self.top = {m.id.casefold(): m for m in top}
        self.declared = PinIndex(Pin(m.id, m.hub, m.repo_type, m.requested, m.commit, m.canonical_id) for m in top)
        self.backend_for = backend_for
        self.backends: dict[str, Backend] = {}
        self.jobs = jobs
        self.moved = set(moved)
        self.forced = set(forced)
        old_models = old_lock.models if old_lock is not None else ()
        self.old = {m.id.casefold(): m for m in old_models}
        self.old_deps = {m.id.casefold(): m for m in old_models if m.required_by}
        self.old_edges: dict[str, list[Edge]] = {}
        for d in self.old_deps.values():
            for parent in d.required_by:
                for reason in reasons_for(d.reason or "dependency", parent):
                    self.old_edges.setdefault(parent.casefold(), []).append(
                        Edge(parent, d.id, d.requested, reason, "", d.hub))
        # an edge to a declared model is not recorded: when one is dropped from ptm.toml, read again
        self.rescan_all = any(not m.required_by and m.id.casefold() not in self.top for m in old_models)
        self.deps: dict[str, LockedModel] = {}
        self.alias: dict[str, str] = {}  # dependency key -> the declared or dependency key it turned out to be
        self.canon: dict[str, str] = {}
        self.graph: list[tuple[str, str, Edge]] = []  # (parent key, child key, edge)
        self.resolved: list[str] = []
        self.changed: list[tuple[str, str | None, str]] = []

    def run(self) -> Expansion:
        frontier = list(self.top.values())
        while frontier:
            found = self._edges_of(frontier)
            groups: dict[str, list[Edge]] = {}
            for parent, edges in zip(frontier, found):
                for edge in edges:
                    self._place(parent.id.casefold(), edge, groups)
            frontier = self._pin(groups)
        self._check_cycles()
        return self._result()

    # -- finding edges ---------------------------------------------------------------------------

    def _edges_of(self, parents: list[LockedModel]) -> list[list[Edge]]:
        reads: list[tuple[int, LockedModel, str]] = []
        hubconfs: list[tuple[int, LockedModel]] = []  # issue 26: torchhub repos whose hubconf.py is read
        out: list[list[Edge]] = []
        for n, p in enumerate(parents):
            key = p.id.casefold()
            old = self.old.get(key)
            if self.rescan_all or key in self.forced or old is None or old.commit != p.commit \
                    or old.entries != p.entries:
                out.append([])
                if p.hub == HUB_TORCHHUB:
                    hubconfs.append((n, p))
                if p.hub == HUB_HUGGINGFACE and p.repo_type == "model":
                    for name in files_to_read({f.path for f in p.files}):
                        if name == CONFIG and p.hub_config is not None:
                            # the hub's repo info already carried config.json's auto_map: no request
                            out[n].extend(find_edges(p.id, name, dict(p.hub_config), {f.path for f in p.files}))
                        else:
                            reads.append((n, p, name))
            else:
                out.append(list(self.old_edges.get(key, [])))

        for _, p, _ in reads:  # backends are made here, not concurrently in the workers
            self._backend(p.hub)

        def read(task: tuple[int, LockedModel, str]) -> Any:
            _, p, name = task
            reader = getattr(self._backend(p.hub), "read_json", None)
            try:
                return None if reader is None else reader(p.id, name, commit=p.commit, repo_type=p.repo_type)
            except GatedRepoError:  # the pin needs no access, the files do: documented in docs/dependencies.md
                return None

        for (n, p, name), document in zip(reads, self._map(read, reads)):
            out[n].extend(find_edges(p.id, name, document, {f.path for f in p.files}))
        if hubconfs:
            backend = self._backend(HUB_TORCHHUB)
            for (n, _), edges in zip(hubconfs, self._map(lambda t: hubconf_edges(t[1], backend), hubconfs)):
                out[n].extend(edges)
        return out

    def _place(self, parent_key: str, edge: Edge, groups: dict[str, list[Edge]]) -> None:
        declared = self.declared.find(Request(edge.target, hub=edge.hub))
        if declared is not None:
            model = self.top[declared.declared_id.casefold()]
            if model.id.casefold() != parent_key:
                if not _agrees(edge.revision, model):
                    raise errors.declared_conflict(edge, model)
                self.graph.append((parent_key, model.id.casefold(), edge))
            return
        key = self.alias.get(edge.target.casefold(), edge.target.casefold())
        if key == parent_key:
            return
        self.graph.append((parent_key, key, edge))
        if key in self.top:  # a dependency that turned out to be a declared model under another name
            if not _agrees(edge.revision, self.top[key]):
                raise errors.declared_conflict(edge, self.top[key])
        elif key in self.deps:
            if not _agrees(edge.revision, self.deps[key]):
                raise errors.revision_conflict(self._first_edge(key), edge)
        else:
            groups.setdefault(key, []).append(edge)

    def _first_edge(self, key: str) -> Edge:
        return next(e for _, child, e in self.graph if child == key)

    # -- pinning dependencies --------------------------------------------------------------------

    def _pin(self, groups: dict[str, list[Edge]]) -> list[LockedModel]:
        todo: list[tuple[str, Edge]] = []
        fresh: list[str] = []
        for key, group in groups.items():
            first = group[0]
            for edge in group[1:]:
                if _norm(edge.revision) != _norm(first.revision):
                    raise errors.revision_conflict(first, edge)
            parents = {e.parent.casefold() for e in group}
            if parents & self.forced:
                self.forced.add(key)
            old = self.old.get(key)  # a dependency, or a model declared before and dropped from ptm.toml since
            # a weight URL's pin is its bytes, not its parent's commit: only --upgrade downloads it again
            moved = self.forced if first.hub == HUB_URL else self.moved | self.forced
            if old is not None and old.hub == first.hub and old.repo_type == "model" \
                    and not parents & moved and _norm(old.requested) == _norm(first.revision):
                self.deps[key] = replace(old, role=None, include=())
                fresh.append(key)
            else:
                todo.append((key, first))

        for _, edge in todo:  # backends are made here, not concurrently in the workers
            self._backend(edge.hub)

        def work(item: tuple[str, Edge]) -> LockedModel:
            _, edge = item
            spec = ModelSpec(id=edge.target, hub=edge.hub, revision=edge.revision)
            try:
                return self._backend(edge.hub).resolve(spec)
            except HubError as e:
                raise errors.hub_error(edge, e) from None

        for key in fresh:
            self.canon.setdefault(self.deps[key].canonical.casefold(), key)
        for (key, edge), model in zip(todo, self._map(work, todo)):
            model = replace(model, role=None, include=())
            self.resolved.append(model.id)
            if self._is_known_repo(key, model, groups[key]):
                continue
            old = self.old_deps.get(key)
            if old is None or old.commit != model.commit:
                self.moved.add(key)
                self.changed.append((model.id, old.commit if old else None, model.commit))
            self.deps[key] = model
            self.canon.setdefault(model.canonical.casefold(), key)
            fresh.append(key)
        return [self.deps[key] for key in sorted(fresh)]

    def _is_known_repo(self, key: str, model: LockedModel, group: list[Edge]) -> bool:
        """A dependency the hub answered under the name of a declared model or another dependency
        (a renamed repo): it is that model, so the edges point there and it is not locked twice."""
        declared = self.declared.find(Request(model.canonical, hub=model.hub))
        other = self.top[declared.declared_id.casefold()] if declared is not None else None
        if other is None and self.canon.get(model.canonical.casefold(), key) != key:
            other = self.deps[self.canon[model.canonical.casefold()]]
        if other is None:
            return False
        target = other.id.casefold()
        self.alias[key] = target
        self.graph = [(p, target if c == key else c, e) for p, c, e in self.graph]
        for edge in group:
            if not _agrees(edge.revision, other):
                raise errors.declared_conflict(edge, other)
        return True

    # -- checks and result -----------------------------------------------------------------------

    def _check_cycles(self) -> None:
        children: dict[str, list[tuple[str, Edge]]] = {}
        for parent, child, edge in self.graph:
            children.setdefault(parent, []).append((child, edge))
        state: dict[str, int] = {}  # 1 on the current path, 2 done
        path: list[tuple[str, Edge | None]] = []

        def visit(node: str) -> None:
            state[node] = 1
            for child, edge in children.get(node, []):
                path.append((node, edge))
                if state.get(child) == 1:
                    start = next(i for i, (n, _) in enumerate(path) if n == child)
                    loop = path[start:] + [(child, None)]
                    raise errors.cycle_error([(self._name(n), e) for n, e in loop])
                if child not in state:
                    visit(child)
                path.pop()
            state[node] = 2

        for node in sorted(children):
            if node not in state:
                visit(node)

    def _name(self, key: str) -> str:
        model = self.top.get(key) or self.deps.get(key)
        return model.id if model is not None else key

    def _result(self) -> Expansion:
        needs: dict[str, set[tuple[str, str]]] = {}
        for parent, child, edge in self.graph:
            if child in self.deps:
                needs.setdefault(child, set()).add((self._name(parent), edge.reason))
        models = []
        for key in sorted(self.deps):
            pairs = needs.get(key, set())
            required_by = tuple(sorted({p for p, _ in pairs}, key=lambda s: (s.casefold(), s)))
            if required_by:
                models.append(replace(self.deps[key], required_by=required_by, reason=join_reasons(pairs)))
        return Expansion(models=tuple(models), resolved=tuple(self.resolved), changed=tuple(self.changed))

    # -- plumbing --------------------------------------------------------------------------------

    def _backend(self, hub: str) -> Backend:
        if hub not in self.backends:
            self.backends[hub] = self.backend_for(hub)
        return self.backends[hub]

    def _map(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """`fn` over `items` on at most `jobs` threads; results in order; the first error (in order) raised."""
        results = ask_each(fn, items, jobs=self.jobs)
        failures = [r for r in results if isinstance(r, PtmlockError)]
        if failures:
            raise failures[0]
        return cast("list[T]", results)

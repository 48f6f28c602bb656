"""Which sources `sync` fetches from, in order, and the fall-through between them (issue 15).

With no `[[source]]` in ptm.toml, every file comes from its model's hub, as before. Otherwise
the sources are tried in their order for each file: a source that lacks the artifact or the
file hands over to the next one and `sync` says so; a source that refuses or cannot be reached
is marked down once for the whole run (one line says so) and every file goes to the next
source by priority (issue 25: a refused connection, an unknown host, a TLS handshake answered in
plain HTTP, 5xx past the retries); a source that serves bytes other than the lock pins fails that
file (exit 5, nothing placed) and is not used again in the run.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from ptmlock.errors import (
    HubError,
    HubUnavailableError,
    IntegrityError,
    ManifestError,
    RegistryAuthError,
)
from ptmlock.install.hf_cache import FileTask
from ptmlock.manifest.model import SourceSpec

HUB = "hub"


class Source(Protocol):
    """Something `sync` can fetch a locked file from."""

    name: str
    cancel: threading.Event

    def fetch(self, task: FileTask, on_bytes: Callable[[int], None]) -> int:
        """Place `task`'s file at `task.store`, checked against the lock; return the bytes received."""
        ...


def registry_sources(specs: Sequence[SourceSpec], only: str | None, *, jobs: int = 8,
                     project_dir: Path | None = None) -> list[Source | str] | None:
    """The registries of `specs` (with the hub's place marked by its source name, a string), restricted to
    the source named `only`; None when the hub alone is used (no `[[source]]`, or `only == "hub"`).

    Raises:
        ManifestError: `only` names no declared source.
    """
    if only is not None:
        chosen = [s for s in specs if s.name == only]
        if not chosen and only != HUB:
            names = ", ".join([s.name for s in specs] + ([HUB] if not any(s.is_hub for s in specs) else []))
            raise ManifestError(f"--source {only}: ptm.toml declares no [[source]] named {only!r} (sources: {names}). "
                                "Add a [[source]] table or pick one of these.")
        specs = chosen
    if not specs or all(s.is_hub for s in specs):
        return None
    from ptmlock.oci.layout import (
        parse_registry_url,  # requests is imported only when a registry is used
    )
    from ptmlock.oci.source import RegistrySource

    from ptmlock.oci.published import pinned_for, registry_key

    found: list[Source | str] = []
    for s in specs:
        if s.is_hub:
            found.append(s.name)
            continue
        url = parse_registry_url(s.url, insecure=s.insecure)
        found.append(RegistrySource(s.name, url, pool=jobs, references=dict(s.models),
                                    credentials_env=dict(s.credentials_env),  # issue 22
                                   
                                    pinned=pinned_for(project_dir, registry_key(url.host, url.namespace))))
    return found


class SourceChain:
    """Tries each source in order for every file; collects what the user should be told."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = list(sources)
        self.cancel = threading.Event()
        self._off: dict[str, str] = {}  # source name -> why it is not used any more
        self._notes: dict[str, None] = {}  # ordered, without repeats
        self._lock = threading.Lock()
        for s in self.sources:
            s.cancel = self.cancel

    @property
    def notes(self) -> tuple[str, ...]:
        """What happened between sources (fall-through, sources dropped), in order."""
        with self._lock:
            return tuple(self._notes)

    def _note(self, text: str) -> None:
        with self._lock:
            self._notes[text] = None

    def fetch(self, task: FileTask, on_bytes: Callable[[int], None]) -> int:
        """Fetch from the first source that has the file.

        Raises:
            IntegrityError: a source served other bytes than the lock pins (it is dropped).
            HubError: no source had the file (the last reason), or every source failed.
        """
        from ptmlock.oci.source import RegistrySource as _Registry
        from ptmlock.oci.source import SourceMissing

        last: HubError | None = None
        live = [s for s in self.sources if s.name not in self._off]
        if not live:
            dropped = "; ".join(f"{name}: {why}" for name, why in self._off.items())
            raise HubError(f"{task.label}: not fetched, every source was dropped earlier in this run ({dropped})")
        for n, source in enumerate(live):
            following = next((s.name for s in live[n + 1:] if s.name not in self._off), None)
            then = f"; trying {following}" if following else ""
            try:
                return source.fetch(task, on_bytes)
            except IntegrityError as e:
                if self._drop(source, str(e)):
                    self._note(f"source {source.name} served bytes that do not match ptm.lock; it is not used "
                               "again in this run")
                raise
            except SourceMissing as e:
                self._note(f"{e}{then}")
                last = e
            except (RegistryAuthError, HubUnavailableError) as e:
                if isinstance(source, _Registry):  # refused or down: the same for every file, said once
                    if self._drop(source, str(e)):
                        self._note(f"source {source.name} failed and is not used again in this run: "
                                   f"{str(e).rstrip('.')}{then}")
                else:
                    self._note(f"source {source.name} failed for {task.label}: {e}{then}")
                last = e
            except HubError as e:  # this file only (say, a 404 at the hub)
                self._note(f"source {source.name} failed for {task.label}: {e}{then}")
                last = e
        if isinstance(last, SourceMissing) or last is None:
            names = ", ".join(s.name for s in live)
            raise HubError(f"{task.label}: no source has it (tried {names}). Publish it with `ptmlock publish`, "
                           "or add the model's hub as a [[source]] with url = \"hub\".")
        raise last

    def _drop(self, source: Source, why: str) -> bool:
        """Mark `source` down for the rest of the run; True the first time (so it is said once)."""
        with self._lock:
            first = source.name not in self._off
            self._off.setdefault(source.name, why)
        return first

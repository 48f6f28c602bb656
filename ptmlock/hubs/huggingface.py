"""The Hugging Face backend: the only module that calls `HfApi`.

One `model_info(..., files_metadata=True)` request per model gives the commit, the canonical
id, every file with size, blob id and LFS sha256, and the card facts. Mirrors that answer repo
info without sizes or LFS hashes are completed from one recursive tree listing at the
resolved commit. 408/429/5xx and transport errors are retried with capped back-off under a
total deadline.
"""
from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from ptmlock import settings
from ptmlock._net import RETRY_STATUS, transport_errors
from ptmlock.constants import (
    ENV_HUB_DEADLINE,
    ENV_HUB_TIMEOUT,
)
from ptmlock.errors import (
    GatedRepoError,
    HubError,
    HubUnavailableError,
    RepoNotFoundError,
    RevisionNotFoundError,
    UnsafeHubAnswerError,
)
from ptmlock.hubs.base import check_commit, check_hex, check_path, check_size
from ptmlock.lockfile.model import LockedFile, LockedModel
from ptmlock.manifest.model import ModelSpec

T = TypeVar("T")




def hub_endpoint() -> str:
    """The endpoint huggingface_hub talks to: `HF_ENDPOINT`, else its default.

    Raises:
        SettingsError: `HF_ENDPOINT` is not an http(s) URL (it would only fail after retries).
    """
    from huggingface_hub import constants

    return settings.hf_endpoint(constants.ENDPOINT)


class HuggingFaceBackend:
    """Resolve `huggingface` models through the real huggingface_hub client.

    It honours `HF_ENDPOINT` and `HF_TOKEN` (read by huggingface_hub; never stored or printed).
    """

    def __init__(self, *, endpoint: str | None = None, timeout: float | None = None,
                 deadline: float | None = None) -> None:
        from huggingface_hub import HfApi

        self.endpoint = (endpoint or hub_endpoint()).rstrip("/")
        self.timeout = timeout if timeout is not None else settings.hub_timeout()
        self.deadline = deadline if deadline is not None else settings.hub_deadline()
        self.api = HfApi(endpoint=self.endpoint)

    def resolve(self, spec: ModelSpec) -> LockedModel:
        """Pin `spec` to a commit; see `Backend.resolve`."""
        getter = self.api.dataset_info if spec.repo_type == "dataset" else self.api.model_info
        info = self._call(spec, lambda: getter(spec.id, revision=spec.revision, files_metadata=True,
                                                timeout=self.timeout))
        commit = check_commit(spec.id, info.sha, self.endpoint)
        if spec.revision is not None and len(spec.revision) == 40 and spec.revision.lower() != commit:
            check_commit(spec.id, f"{commit} (asked for {spec.revision})", self.endpoint)
        canonical = info.id if isinstance(info.id, str) and info.id else spec.id
        siblings = info.siblings
        if siblings is None or any(s.size is None or s.blob_id is None for s in siblings):
            files = self._files_from_tree(spec, commit)
        else:
            files = [self._file(spec, s.rfilename, s.size, s.blob_id, s.lfs) for s in siblings]
        files.sort(key=lambda f: f.path)
        card_data = getattr(info, "card_data", None)
        card = card_data.to_dict() if card_data is not None else {}
        return LockedModel(
            id=spec.id,
            commit=commit,
            canonical_id=canonical if canonical != spec.id else None,
            hub=spec.hub,
            repo_type=spec.repo_type,
            requested=spec.revision,
            role=spec.role,
            include=spec.files,
            files=tuple(files),
            license=_license(card, info.tags),
            gated=info.gated if isinstance(info.gated, str) else bool(info.gated),
            private=bool(info.private),
            library=getattr(info, "library_name", None),
            pipeline_tag=getattr(info, "pipeline_tag", None),
            hub_config=config if isinstance(config := getattr(info, "config", None), dict) else None,
        )

    def current_commit(self, spec: ModelSpec) -> str:
        """The commit `spec.revision` (or the default branch) points at now: one request, no file listing.

        `ptmlock outdated` uses it. Raises as `resolve` does.
        """
        getter = self.api.dataset_info if spec.repo_type == "dataset" else self.api.model_info
        info = self._call(spec, lambda: getter(spec.id, revision=spec.revision, timeout=self.timeout))
        return check_commit(spec.id, info.sha, self.endpoint)

    # issue 7: transitive dependencies are found in small JSON files read at the pinned commit
    def read_json(self, model_id: str, path: str, *, commit: str, repo_type: str = "model") -> Any:
        """The parsed JSON file `path` of `model_id` at `commit`.

        One `hf_hub_download`, retried like `resolve`, into ptmlock's own cache (not the Hugging
        Face cache, which `lock` leaves alone): reading it again at the same commit makes no request.

        Raises:
            HubError: as `resolve` does.
            UnsafeHubAnswerError: the file is not valid JSON.
        """
        spec = ModelSpec(id=model_id, revision=commit, repo_type=repo_type)

        def fetch() -> str:
            from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
            from huggingface_hub.utils.tqdm import silent_tqdm

            try:
                return self.api.hf_hub_download(model_id, path, revision=commit, repo_type=repo_type,
                                                cache_dir=_files_cache(), etag_timeout=self.timeout,
                                                tqdm_class=cast(Any, silent_tqdm))
            except LocalEntryNotFoundError as e:  # hf_hub_download hides 5xx and transport errors behind this
                cause = e.__cause__ or e.__context__
                if isinstance(cause, (HfHubHTTPError, *transport_errors())) and isinstance(cause, Exception):
                    raise cause from None
                raise HubError(f"Cannot read {path} of {repo_type} {model_id!r} at {commit[:12]} from "
                               f"{self.endpoint}: {e}") from None

        local = self._call(spec, fetch)
        try:
            with open(local, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise UnsafeHubAnswerError(
                f"{path} of {repo_type} {model_id!r} at {commit[:12]} is not valid JSON ({e}), so ptmlock cannot "
                "tell which models it needs. Report it to the repository, or pin a revision with a valid file."
            ) from None

    def _files_from_tree(self, spec: ModelSpec, commit: str) -> list[LockedFile]:
        from huggingface_hub.hf_api import RepoFile

        entries = self._call(spec, lambda: list(self.api.list_repo_tree(
            spec.id, revision=commit, repo_type=spec.repo_type, recursive=True)))
        return [self._file(spec, e.path, e.size, e.blob_id, e.lfs) for e in entries if isinstance(e, RepoFile)]

    def _file(self, spec: ModelSpec, path: object, size: object, blob_id: object, lfs: Any) -> LockedFile:
        p = check_path(spec.id, path, self.endpoint)
        sha256 = None
        if lfs is not None:
            sha256 = check_hex(spec.id, p, "LFS sha256", lfs.get("sha256"), 64, self.endpoint)
            lfs_size = lfs.get("size")
            size = lfs_size if lfs_size is not None else size
        return LockedFile(
            path=p,
            size=check_size(spec.id, p, size, self.endpoint),
            blob_id=check_hex(spec.id, p, "git blob id", blob_id, 40, self.endpoint),
            sha256=sha256,
        )

    def _call(self, spec: ModelSpec, fn: Callable[[], T]) -> T:
        from huggingface_hub.errors import GatedRepoError as HfGated
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
        from huggingface_hub.errors import RepositoryNotFoundError as HfRepoNotFound
        from huggingface_hub.errors import RevisionNotFoundError as HfRevisionNotFound

        transport = transport_errors()
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            give_up = False
            try:
                return fn()
            except OfflineModeIsEnabled:
                raise HubError(
                    f"Cannot resolve {spec.id!r}: huggingface_hub is in offline mode (HF_HUB_OFFLINE is set). "
                    "Unset HF_HUB_OFFLINE to lock; `ptmlock lock --check` works offline."
                ) from None
            except HfGated as e:
                raise GatedRepoError(self._gated_message(spec, e)) from None
            except HfRepoNotFound as e:
                raise RepoNotFoundError(self._not_found_message(spec, e)) from None
            except HfRevisionNotFound:
                raise RevisionNotFoundError(
                    f"Revision {spec.revision!r} of {spec.repo_type} {spec.id!r} does not exist on {self.endpoint}. "
                    f"Use an existing branch, tag or commit: `ptmlock add {spec.id}@REV` rewrites it in ptm.toml."
                ) from None
            except HfHubHTTPError as e:
                status = e.response.status_code if e.response is not None else None
                if status not in RETRY_STATUS:
                    raise HubError(
                        f"The hub at {self.endpoint} answered {status} for {spec.repo_type} {spec.id!r}. "
                        "Check the id and HF_ENDPOINT, then try again."
                    ) from None
                last = f"HTTP {status}"
            except transport as e:
                last = type(e).__name__
                # refused or unknown host: the hub is not there, so a few tries are enough
                give_up = "Connect" in last and attempt >= 3
            elapsed = time.monotonic() - start
            delay = min(8.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            if give_up or elapsed + delay >= self.deadline:
                raise HubUnavailableError(
                    f"The hub at {self.endpoint} did not answer {spec.repo_type} {spec.id!r} after {attempt} attempts "
                    f"in {elapsed:.1f}s (last: {last}). Check your connection or HF_ENDPOINT and try again; "
                    f"{ENV_HUB_TIMEOUT} and {ENV_HUB_DEADLINE} set the per-request timeout and the total deadline."
                ) from None
            time.sleep(delay)

    def _not_found_message(self, spec: ModelSpec, e: Exception) -> str:
        status = getattr(getattr(e, "response", None), "status_code", None)
        private_hint = (
            " If it is private, set HF_TOKEN to a token that can read it."
            if status == 401 or not _has_token() else ""
        )
        return (
            f"{spec.repo_type.capitalize()} {spec.id!r} was not found on {self.endpoint}. Check the id for typos "
            f"(`ptmlock remove {spec.id}` drops it from ptm.toml).{private_hint}"
        )

    def _gated_message(self, spec: ModelSpec, e: Exception) -> str:
        status = getattr(getattr(e, "response", None), "status_code", None)
        token = "with the token in HF_TOKEN" if _has_token() else "without a token"
        return (
            f"{spec.repo_type.capitalize()} {spec.id!r} is gated: {self.endpoint} refused access {token} "
            f"(HTTP {status}). Accept its conditions on the model page, then set HF_TOKEN to a token of that "
            "account (ptmlock never writes the token anywhere)."
        )


def _files_cache() -> str:
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("ptmlock"), "hub-files")


def _has_token() -> bool:
    from huggingface_hub import get_token

    return get_token() is not None



def _license(card: dict[str, Any], tags: list[str] | None) -> str | None:
    value = card.get("license")
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if isinstance(value, str) and value:
        return value
    for tag in tags or []:
        if tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None

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
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from ptmlock import settings
from ptmlock._net import (
    RETRY_STATUS,
    NetLimits,
    Retry,
    is_refused,
    run_within,
    transport_errors,
    with_retries,
)
from ptmlock.constants import ENV_MAX_ANSWER_BYTES
from ptmlock.errors import (
    GatedRepoError,
    HubError,
    ManifestError,
    RepoNotFoundError,
    RevisionNotFoundError,
    UnsafeHubAnswerError,
)
from ptmlock.hubs.answers import (
    MAX_FILES,
    FileAnswer,
    RepoAnswer,
    check_unique,
    is_repo_id,
    parse_repo_info,
    parse_tree_page,
)
from ptmlock.hubs.base import check_commit
from ptmlock.hubs.hf_http import (
    MAX_PAGES,
    get_json,
    max_answer_bytes,
    request_errors,
    unreadable,
)
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
        self.limits = NetLimits.from_env(timeout=timeout, deadline=deadline)
        self.transport = transport_errors()
        self.api = HfApi(endpoint=self.endpoint)

    def resolve(self, spec: ModelSpec) -> LockedModel:
        """Pin `spec` to a commit; see `Backend.resolve`."""
        info = self._info(spec, files=True)
        commit = info.sha
        if spec.revision is not None and len(spec.revision) == 40 and spec.revision.lower() != commit:
            check_commit(spec.id, f"{commit} (asked for {spec.revision})", self.endpoint)
        canonical = info.id or spec.id
        answers = info.files if info.complete and info.files is not None else self._tree(spec, commit)
        files = sorted((self._file(spec, a) for a in answers), key=lambda f: f.path)
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
            license=info.license,
            gated=info.gated,
            private=info.private,
            library=info.library,
            pipeline_tag=info.pipeline_tag,
            hub_config=dict(info.config) if info.config is not None else None,
        )

    def current_commit(self, spec: ModelSpec) -> str:
        """The commit `spec.revision` (or the default branch) points at now: one request, no file listing.

        `ptmlock outdated` uses it. Raises as `resolve` does.
        """
        return self._info(spec, files=False).sha

    def _info(self, spec: ModelSpec, *, files: bool) -> RepoAnswer:
        """The repo info answer of `spec`, read bounded and validated (issue 11)."""
        if not is_repo_id(spec.id):
            raise ManifestError(f"{spec.id!r} is not a Hugging Face repo id ('name' or 'owner/name': ASCII letters, "
                                "digits, '-', '_', '.'; no '--' or '..'). Fix it in ptm.toml.")
        url = f"{self.endpoint}/api/{spec.repo_type}s/{spec.id}"
        if spec.revision is not None:
            url += f"/revision/{quote(spec.revision, safe='')}"
        params = {"blobs": True} if files else None
        data, _ = self._call(spec, lambda timeout: get_json(url, params=params, timeout=timeout, what="the repo info",
                                                            model_id=spec.id, source=self.endpoint))
        return parse_repo_info(data, model_id=spec.id, source=self.endpoint)

    def _tree(self, spec: ModelSpec, commit: str) -> tuple[FileAnswer, ...]:
        """Every file at `commit` from the recursive tree listing, page by page, validated."""
        url: str | None = f"{self.endpoint}/api/{spec.repo_type}s/{spec.id}/tree/{commit}"
        params: dict[str, Any] | None = {"recursive": True, "expand": False}
        files: list[FileAnswer] = []
        seen: set[str] = set()
        while url is not None:
            if url in seen or len(seen) >= MAX_PAGES:
                raise UnsafeHubAnswerError(f"The hub at {self.endpoint} keeps paging the file listing of "
                                           f"{spec.id!r} ({len(seen)} pages). ptmlock stopped and wrote nothing.")
            seen.add(url)
            data, url = self._call(spec, lambda timeout, u=url, p=params: get_json(  # type: ignore[misc]
                u, params=p, timeout=timeout, what="the file listing", model_id=spec.id, source=self.endpoint))
            params = None  # the next link carries its own query
            files += parse_tree_page(data, model_id=spec.id, source=self.endpoint)
            if len(files) > MAX_FILES:
                raise UnsafeHubAnswerError(f"The hub at {self.endpoint} lists more than {MAX_FILES} files for "
                                           f"{spec.id!r}. ptmlock refuses it and wrote nothing.")
        check_unique(files, model_id=spec.id, source=self.endpoint, what="the file listing")
        return tuple(files)

    # issue 7: transitive dependencies are found in small JSON files read at the pinned commit
    def read_json(self, model_id: str, path: str, *, commit: str, repo_type: str = "model") -> Any:
        """The parsed JSON file `path` of `model_id` at `commit`.

        One `hf_hub_download`, retried like `resolve`, into ptmlock's own cache (not the Hugging
        Face cache, which `lock` leaves alone): reading it again at the same commit makes no request.

        Raises:
            HubError: as `resolve` does.
            UnsafeHubAnswerError: the file is not valid JSON.
        """
        local = self.fetch_file(model_id, path, commit=commit, repo_type=repo_type)
        try:
            cap = max_answer_bytes()
            if os.path.getsize(local) > cap:  # issue 11: never decode an unbounded document
                raise ValueError(f"larger than the {cap} bytes ptmlock reads ({ENV_MAX_ANSWER_BYTES})")
            with open(local, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
            raise UnsafeHubAnswerError(
                f"{path} of {repo_type} {model_id!r} at {commit[:12]} is not valid JSON ({e}), so ptmlock cannot "
                "tell which models it needs. Report it to the repository, or pin a revision with a valid file."
            ) from None

    def fetch_file(self, model_id: str, path: str, *, commit: str, repo_type: str = "model") -> str:
        """The local path of file `path` of `model_id` at `commit`, downloaded (retried like
        `resolve`) into ptmlock's own cache, not the Hugging Face cache. The caller checks its hash.

        Raises:
            HubError: as `resolve` does.
        """
        spec = ModelSpec(id=model_id, revision=commit, repo_type=repo_type)

        def fetch(timeout: float) -> str:
            from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

            from ptmlock._hfcompat import quiet_download

            try:
                return self.api.hf_hub_download(model_id, path, revision=commit, repo_type=repo_type,
                                                cache_dir=_files_cache(), etag_timeout=timeout, **quiet_download())
            except LocalEntryNotFoundError as e:  # hf_hub_download hides 5xx and transport errors behind this
                cause = e.__cause__ or e.__context__
                if isinstance(cause, (HfHubHTTPError, *self.transport)) and isinstance(cause, Exception):
                    raise cause from None
                raise HubError(f"Cannot read {path} of {repo_type} {model_id!r} at {commit[:12]} from "
                               f"{self.endpoint}: {e}") from None

        return self._call(spec, fetch)

    def _file(self, spec: ModelSpec, a: FileAnswer) -> LockedFile:
        size = a.lfs_size if a.lfs_size is not None else a.size
        if size is None:
            raise UnsafeHubAnswerError(f"The hub at {self.endpoint} gave no size for file {a.path!r} of {spec.id!r}, "
                                       "so ptmlock cannot pin it. Check HF_ENDPOINT.")
        return LockedFile(path=a.path, size=size, blob_id=a.blob_id, sha256=a.sha256)

    def _call(self, spec: ModelSpec, fn: Callable[[float], T]) -> T:
        """`fn(request_timeout)` under the network rules: each try is cut at the deadline (a hub
        trickling its answer too), transient failures are retried, the rest become our errors."""

        def attempt(left: float) -> T:
            return self._translate(spec, lambda: run_within(left, lambda: fn(self.limits.request_timeout(left))))

        return with_retries(attempt, limits=self.limits, source=f"The hub at {self.endpoint}",
                            subject=f"{spec.repo_type} {spec.id!r}", fix="Check your connection or HF_ENDPOINT")

    def _translate(self, spec: ModelSpec, fn: Callable[[], T]) -> T:
        """`fn()`, with huggingface_hub's errors turned into ours (`Retry` when transient)."""
        from huggingface_hub.errors import GatedRepoError as HfGated
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
        from huggingface_hub.errors import RepositoryNotFoundError as HfRepoNotFound
        from huggingface_hub.errors import RevisionNotFoundError as HfRevisionNotFound

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
            raise Retry(f"HTTP {status}") from None
        except request_errors() as e:  # a redirect loop, an undecodable body (issue 11)
            raise unreadable(self.endpoint, f"{spec.repo_type} {spec.id!r}", e) from None
        except self.transport as e:
            name = type(e).__name__
            raise Retry(name, refused=is_refused(name)) from None

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

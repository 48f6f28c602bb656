"""The JSON documents of the Hub API, built from snapshots (shapes as huggingface_hub parses them)."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ptmlock.testing._card import dataset_tags, model_tags
from ptmlock.testing._snapshot import CommitInfo, DirEntry, FileEntry, Snapshot


def iso(timestamp: int) -> str:
    """A Hub-style UTC timestamp: `2024-01-01T00:00:00.000Z`."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def repo_info(
    *,
    repo_type: str,
    repo_id: str,
    snapshot: Snapshot,
    private: bool,
    gated: object,
    created: int,
    blobs: bool,
    partial: bool,
    expand: list[str],
    security: bool,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`GET /api/{models,datasets}/{id}[/revision/{rev}]`: ModelInfo / DatasetInfo as JSON."""
    card = {k: v for k, v in snapshot.card.items() if v is not None}
    siblings = []
    for f in snapshot.files.values():
        sibling: dict[str, Any] = {"rfilename": f.path}
        if blobs and not partial:
            sibling["size"] = f.size
            sibling["blobId"] = f.oid
            if f.lfs is not None:
                sibling["lfs"] = {"sha256": f.lfs.sha256, "size": f.lfs.size, "pointerSize": f.lfs.pointer_size}
        siblings.append(sibling)
    data: dict[str, Any] = {
        "_id": hashlib.sha1(f"{repo_type}:{repo_id}".encode()).hexdigest()[:24],
        "id": repo_id,
        "author": repo_id.split("/")[0] if "/" in repo_id else None,
        "sha": snapshot.commit.sha,
        "lastModified": iso(snapshot.commit.timestamp),
        "createdAt": iso(created or snapshot.commit.timestamp),
        "private": private,
        "gated": gated,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "usedStorage": sum(f.size for f in snapshot.files.values()),
    }
    if repo_type == "model":
        data["modelId"] = repo_id
        data["tags"] = model_tags(card, snapshot.files)
        for key in ("library_name", "pipeline_tag"):
            if isinstance(card.get(key), str):
                data[key] = card[key]
        data["spaces"] = []
        if config is not None:
            data["config"] = config
    else:
        data["tags"] = dataset_tags(card)
        data["description"] = ""
    if card:
        data["cardData"] = card
    data["siblings"] = siblings
    if security:
        data["securityRepoStatus"] = {"scansDone": True, "filesWithIssues": []}
    if expand:
        data = {k: v for k, v in data.items() if k in ("_id", "id") or k in expand}
    return data


def tree_entry(entry: FileEntry | DirEntry, *, last: CommitInfo | None = None) -> dict[str, Any]:
    """One item of a tree listing or paths-info answer (`last` given when `expand=True`)."""
    item: dict[str, Any]
    if isinstance(entry, DirEntry):
        item = {"type": "directory", "oid": entry.oid, "size": 0, "path": entry.path}
    else:
        item = {"type": "file", "oid": entry.oid, "size": entry.size, "path": entry.path}
        if entry.lfs is not None:
            item["lfs"] = {"oid": entry.lfs.sha256, "size": entry.lfs.size, "pointerSize": entry.lfs.pointer_size}
    if last is not None:
        item["lastCommit"] = {"id": last.sha, "title": last.title, "date": iso(last.timestamp)}
        if isinstance(entry, FileEntry):
            item["securityFileStatus"] = {"status": "safe", "avScan": {"virusFound": False, "virusNames": None},
                                          "pickleImportScan": None}
    return item


def commit_item(commit: CommitInfo) -> dict[str, Any]:
    """One item of `GET /api/{type}s/{id}/commits/{rev}`."""
    return {
        "id": commit.sha,
        "title": commit.title,
        "message": commit.message,
        "date": iso(commit.timestamp),
        "authors": [{"user": commit.author, "avatar": None}],
    }


def refs_document(refs: Mapping[str, str], *, include_prs: bool) -> dict[str, Any]:
    """`GET /api/{type}s/{id}/refs`: branches, tags, converts (and pullRequests on request)."""

    def group(prefix: str) -> list[dict[str, str]]:
        return [{"name": name[len(prefix):], "ref": name, "targetCommit": sha}
                for name, sha in sorted(refs.items()) if name.startswith(prefix)]

    data: dict[str, Any] = {"branches": group("refs/heads/"), "converts": group("refs/convert/"),
                            "tags": group("refs/tags/")}
    if include_prs:
        data["pullRequests"] = group("refs/pr/")
    return data

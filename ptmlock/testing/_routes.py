"""What `LocalHub` answers to each request, as huggingface.co would.

Routes (repo ids may have one or two segments; `{type}` is `models` or `datasets`):

    GET  /api/{type}/{id}[/revision/{rev}]     repo info (?blobs=True, ?expand=, ?securityStatus=)
    GET  /api/{type}/{id}/tree/{rev}[/{path}]  tree listing (?recursive=, ?expand=, Link rel="next" pages)
    POST /api/{type}/{id}/paths-info/{rev}     form `paths`, `expand`
    GET  /api/{type}/{id}/refs                 branches, tags, converts (?include_prs=1)
    GET  /api/{type}/{id}/commits/{rev}        commits, newest first (?p= pages)
    HEAD/GET /[datasets/]{id}/resolve/{rev}/{path}   file bytes, with Range
    GET  /api/whoami-v2

Errors carry `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) and
`X-Error-Message`, which is what `huggingface_hub.utils.hf_raise_for_status` maps to its errors.
Renamed or mis-cased repo ids answer 307 with a relative `Location`, as the Hub does.
"""
from __future__ import annotations

import base64
import json
import mimetypes
import re
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from ptmlock.testing._api import commit_item, refs_document, repo_info, tree_entry
from ptmlock.testing._snapshot import DirEntry, FileEntry

if TYPE_CHECKING:
    from ptmlock.testing._hub import HubStore
    from ptmlock.testing._registry import Repo

_API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_SUBPATHS = frozenset({"revision", "tree", "paths-info", "refs", "commits", "resolve", "blob", "raw"})
_RANGE_RE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)


class Response:
    """An answer: status, headers and either `body` bytes or a `file` slice to stream."""

    def __init__(self, status: int, body: bytes = b"", *, headers: Sequence[tuple[str, str]] = (),
                 json_data: Any = None, file: tuple[Path, int, int] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = list(headers)
        self.json = json_data
        self.file = file  # (path, offset, length), streamed instead of `body`

    @property
    def length(self) -> int:
        return self.file[2] if self.file is not None else len(self.body)


def json_response(data: Any, status: int = 200, headers: Sequence[tuple[str, str]] = ()) -> Response:
    """A JSON answer (kept decoded in `.json`, so a fault can rewrite it)."""
    return Response(status, json.dumps(data).encode(), json_data=data,
                    headers=[("Content-Type", "application/json; charset=utf-8"), *headers])


def error_response(status: int, code: str | None, message: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
    """A Hub error: `{"error": message}` with `X-Error-Code` (when given) and `X-Error-Message`."""
    extra = [("X-Error-Code", code)] if code else []
    return json_response({"error": message}, status, [*extra, ("X-Error-Message", message), *headers])


def _truthy(query: dict[str, list[str]], name: str) -> bool:
    return any(v.lower() in ("1", "true", "yes") for v in query.get(name, []))


def _quote_id(repo_id: str) -> str:
    return "/".join(quote(part, safe="") for part in repo_id.split("/"))


def _rev_and_path(segments: list[str]) -> tuple[str, str]:
    """Split raw `{rev}/{path...}` segments; an unquoted `refs/pr/N` revision takes three."""
    if len(segments) >= 3 and segments[0] == "refs" and segments[1] in ("pr", "convert"):
        return unquote("/".join(segments[:3])), unquote("/".join(segments[3:]))
    return unquote(segments[0]), unquote("/".join(segments[1:]))


class Router:
    """Answers one request; `raw_path` is still percent-encoded so `%2F` in a revision survives."""

    def __init__(self, handler: BaseHTTPRequestHandler, method: str, raw_path: str, query: str, body: bytes) -> None:
        self.hub: HubStore = handler.server.hub  # type: ignore[attr-defined]
        self.handler = handler
        self.method = method
        self.raw_path = raw_path
        self.query = query
        self.params = parse_qs(query, keep_blank_values=True)
        self.body = body
        auth = handler.headers.get("Authorization", "")
        self.token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        self.authorized = self.token is not None and self.token in self.hub.tokens

    def route(self) -> Response:
        segs = self.raw_path.split("/")[1:]
        if segs[:2] == ["api", "whoami-v2"]:
            return self._whoami()
        if segs[:1] == ["api"] and len(segs) >= 2 and segs[1] in _API_TYPES and segs[2:] in ([], [""]):
            return self._list(_API_TYPES[segs[1]])
        if len(segs) >= 3 and segs[0] == "api" and segs[1] in _API_TYPES:
            return self._api(_API_TYPES[segs[1]], segs[2:], f"/api/{segs[1]}/")
        start = 1 if segs and segs[0] in ("datasets", "spaces") else 0
        if "resolve" in segs[start + 1:start + 3]:
            idx = segs.index("resolve", start + 1)
            rtype = segs[0][:-1] if start else "model"
            return self._resolve(rtype, segs[start:idx], segs[idx + 1:], f"/{segs[0]}/" if start else "/")
        return error_response(404, None, "Not Found")

    # --- shared checks ----------------------------------------------------------------------------

    def _split_repo(self, rtype: str, segs: list[str]) -> tuple[str, list[str]]:
        one = unquote(segs[0])
        if len(segs) >= 2:
            two = f"{one}/{unquote(segs[1])}"
            if self.hub.knows(rtype, two):
                return two, segs[2:]
            if not self.hub.knows(rtype, one) and segs[1] not in _SUBPATHS:
                return two, segs[2:]
        return one, segs[1:]

    def _find_repo(self, rtype: str, repo_id: str, prefix: str, rest: list[str]) -> Repo | Response:
        repo, canonical = self.hub.lookup(rtype, repo_id) if rtype != "space" else (None, None)
        if repo is None:
            if canonical is not None:
                location = prefix + _quote_id(canonical) + "".join("/" + s for s in rest)
                return Response(307, headers=[("Location", location + (f"?{self.query}" if self.query else ""))])
            return self._repo_not_found()
        if repo.private and not self.authorized:
            return self._repo_not_found()
        return repo

    def _repo_not_found(self) -> Response:
        # Like the Hub: an anonymous caller gets 401 (a private repo and a missing one look alike).
        if self.token is None:
            return error_response(401, "RepoNotFound", "Invalid username or password.")
        return error_response(404, "RepoNotFound", "Repository not found")

    def _revision(self, repo: Repo, revision: str) -> str | Response:
        sha = self.hub.resolve_revision(repo, revision)
        if sha is None:
            return error_response(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return sha

    def _next_link(self, name: str, value: str) -> tuple[str, str]:
        params = [(k, v) for k, vs in self.params.items() if k != name for v in vs] + [(name, value)]
        host = self.handler.headers.get("Host")
        base = f"http://{host}" if host else self.hub.endpoint
        return "Link", f'<{base}{self.raw_path}?{urlencode(params)}>; rel="next"'

    # --- /api ---------------------------------------------------------------------------------------

    def _list(self, rtype: str) -> Response:
        """`GET /api/models` (`HfApi.list_models`): the public repos, `?search=`, `?author=`, `?limit=`."""
        if self.method not in ("GET", "HEAD") or rtype == "space":
            return error_response(405 if rtype != "space" else 404, None, "Not Found")
        search = (self.params.get("search") or [""])[0].lower()
        authors = self.params.get("author")
        author = authors[0] if authors else None
        found = [r for r in self.hub.repos(rtype) if (not r.private or self.authorized)
                 and search in r.repo_id.lower() and (author is None or r.repo_id.split("/")[0] == author)]
        limit = (self.params.get("limit") or [""])[0]
        if limit.isdigit():
            found = found[:int(limit)]
        items = []
        for repo in found:
            sha = self.hub.resolve_revision(repo, "main")
            if sha is None:
                continue
            info = repo_info(repo_type=repo.repo_type, repo_id=repo.repo_id, snapshot=self.hub.snapshot(repo, sha),
                             private=repo.private, gated=repo.gated, created=repo.created, blobs=False,
                             partial=False, expand=[], security=False)
            items.append({k: v for k, v in info.items() if k not in ("siblings", "cardData", "usedStorage")})
        return json_response(items)

    def _api(self, rtype: str, rest: list[str], prefix: str) -> Response:
        if not rest or not rest[0]:
            return error_response(404, None, "Not Found")
        repo_id, sub = self._split_repo(rtype, rest)
        found = self._find_repo(rtype, repo_id, prefix, sub)
        if isinstance(found, Response):
            return found
        repo = found
        head = sub[0] if sub else None
        if self.method == "POST" and head == "paths-info" and len(sub) >= 2:
            return self._paths_info(repo, unquote("/".join(sub[1:])))
        if self.method not in ("GET", "HEAD"):
            return error_response(405, None, "Method Not Allowed")
        if head is None:
            return self._info(repo, "main")
        if head == "revision" and len(sub) >= 2:
            return self._info(repo, unquote("/".join(sub[1:])))
        if head == "tree" and len(sub) >= 2:
            rev, path = _rev_and_path(sub[1:])
            return self._tree(repo, rev, path.strip("/"))
        if head == "refs" and len(sub) == 1:
            return json_response(refs_document(self.hub.refs_of(repo), include_prs=_truthy(self.params, "include_prs")))
        if head == "commits" and len(sub) >= 2:
            return self._commits(repo, unquote("/".join(sub[1:])))
        return error_response(404, None, "Not Found")

    def _info(self, repo: Repo, revision: str) -> Response:
        sha = self._revision(repo, revision)
        if isinstance(sha, Response):
            return sha
        data = repo_info(
            repo_type=repo.repo_type, repo_id=repo.repo_id, snapshot=self.hub.snapshot(repo, sha),
            private=repo.private, gated=repo.gated, created=repo.created,
            blobs=_truthy(self.params, "blobs"), partial=self.hub.mirror_mode == "partial",
            expand=self.params.get("expand", []) + self.params.get("expand[]", []),
            security=_truthy(self.params, "securityStatus"),
            config=self._config_summary(repo, sha),
        )
        return json_response(data)

    def _config_summary(self, repo: Repo, sha: str) -> dict[str, Any] | None:
        # The Hub's repo info carries a summary of config.json (`config`): architectures,
        # model_type, auto_map. Mirrors may leave it out (partial mode does).
        entry = self.hub.snapshot(repo, sha).files.get("config.json")
        if repo.repo_type != "model" or entry is None or entry.lfs is not None \
                or self.hub.mirror_mode == "partial":
            return None
        try:
            document = json.loads(self.hub.blob(repo, entry.oid))
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        return {k: document[k] for k in ("architectures", "model_type", "auto_map") if k in document}

    def _items(self, repo: Repo, sha: str, entries: list[FileEntry | DirEntry], expand: bool) -> list[Any]:
        if not expand:
            return [tree_entry(e) for e in entries]
        last = self.hub.last_commits(repo, sha)
        commits = {c.sha: c for c in self.hub.history(repo, sha)}
        return [tree_entry(e, last=commits.get(last.get(e.path, ""))) for e in entries]

    def _tree(self, repo: Repo, revision: str, path: str) -> Response:
        sha = self._revision(repo, revision)
        if isinstance(sha, Response):
            return sha
        snap = self.hub.snapshot(repo, sha)
        if path and path not in snap.dirs:
            return error_response(404, "EntryNotFound", f"{path} does not exist on \"{revision}\"",
                                  [("X-Repo-Commit", sha)])
        prefix = path + "/" if path else ""
        recursive = _truthy(self.params, "recursive")
        expand = _truthy(self.params, "expand")
        entries = [e for e in snap.entries
                   if e.path.startswith(prefix) and (recursive or "/" not in e.path[len(prefix):])]
        size = max(1, min(self.hub.tree_page_size, 50) if expand else self.hub.tree_page_size)
        try:
            cursor = self.params.get("cursor", [""])[0]
            offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        except ValueError:
            return error_response(400, None, "Invalid cursor")
        headers = []
        if offset + size < len(entries):
            headers.append(self._next_link("cursor", base64.urlsafe_b64encode(str(offset + size).encode()).decode()))
        return json_response(self._items(repo, sha, entries[offset:offset + size], expand), headers=headers)

    def _paths_info(self, repo: Repo, revision: str) -> Response:
        sha = self._revision(repo, revision)
        if isinstance(sha, Response):
            return sha
        if "json" in self.handler.headers.get("Content-Type", ""):
            payload = json.loads(self.body or b"{}")
            paths, expand = [str(p) for p in payload.get("paths", [])], bool(payload.get("expand"))
        else:
            form = parse_qs(self.body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), _truthy(form, "expand")
        snap = self.hub.snapshot(repo, sha)
        found: list[FileEntry | DirEntry] = []
        for p in dict.fromkeys(p.strip("/") for p in paths):
            entry = snap.files.get(p) or snap.dirs.get(p)
            if entry is not None:
                found.append(entry)
        return json_response(self._items(repo, sha, found, expand))

    def _commits(self, repo: Repo, revision: str) -> Response:
        sha = self._revision(repo, revision)
        if isinstance(sha, Response):
            return sha
        history = self.hub.history(repo, sha)
        try:
            page = int(self.params.get("p", ["0"])[0])
        except ValueError:
            return error_response(400, None, "Invalid page")
        size = max(1, self.hub.commits_page_size)
        items = [commit_item(c) for c in history[page * size:(page + 1) * size]]
        if "formatted" in self.params.get("expand[]", []) + self.params.get("expand", []):
            for item in items:
                item["formatted"] = {"title": item["title"], "message": item["message"]}
        headers = [self._next_link("p", str(page + 1))] if (page + 1) * size < len(history) else []
        return json_response(items, headers=headers)

    def _whoami(self) -> Response:
        if not self.authorized:
            return error_response(401, None, "Invalid credentials in Authorization header")
        return json_response({"type": "user", "name": "localhub-user", "auth": {"accessToken": {"role": "read"}}})

    # --- /resolve -----------------------------------------------------------------------------------

    def _resolve(self, rtype: str, repo_segs: list[str], rest: list[str], prefix: str) -> Response:
        if self.method not in ("GET", "HEAD"):
            return error_response(405, None, "Method Not Allowed")
        repo_id = "/".join(unquote(s) for s in repo_segs)
        found = self._find_repo(rtype, repo_id, prefix, ["resolve", *rest])
        if isinstance(found, Response):
            return found
        repo = found
        if repo.gated and not self.authorized:
            what = f"{rtype} {repo.repo_id}"
            if self.token is None:
                return error_response(401, "GatedRepo", f"Access to {what} is restricted. You must have access to it "
                                                        "and be authenticated to access it. Please log in.")
            return error_response(403, "GatedRepo", f"Access to {what} is restricted and you are not in the "
                                                    "authorized list. Visit the repo page to ask for access.")
        if not rest:
            return error_response(404, None, "Not Found")
        revision, path = _rev_and_path(rest)
        sha = self._revision(repo, revision)
        if isinstance(sha, Response):
            return sha
        entry = self.hub.snapshot(repo, sha).files.get(path)
        if entry is None:
            return error_response(404, "EntryNotFound", "Entry not found", [("X-Repo-Commit", sha)])
        name = path.rsplit("/", 1)[-1]
        headers = [
            ("X-Repo-Commit", sha),
            ("Accept-Ranges", "bytes"),
            ("Content-Type", mimetypes.guess_type(name)[0] or "application/octet-stream"),
            ("Content-Disposition", f"inline; filename*=UTF-8''{quote(name)}; filename=\"{quote(name)}\";"),
        ]
        data = b""
        file: Path | None = None
        if entry.lfs is not None:
            file = self.hub.lfs_path(entry.lfs.sha256)
            if not file.is_file():
                return error_response(404, "EntryNotFound", f"LFS object {entry.lfs.sha256} is missing on this hub",
                                      [("X-Repo-Commit", sha)])
            headers += [("ETag", f'"{entry.lfs.sha256}"'), ("X-Linked-Etag", f'"{entry.lfs.sha256}"'),
                        ("X-Linked-Size", str(entry.lfs.size))]
        else:
            data = self.hub.blob(repo, entry.oid)
            headers.append(("ETag", f'"{entry.oid}"'))
        byte_range = _byte_range(self.handler.headers.get("Range"), entry.size)
        if byte_range is None:
            return error_response(416, None, "Range Not Satisfiable", [("Content-Range", f"bytes */{entry.size}")])
        start, length, partial = byte_range
        status = 200
        if partial:
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{start + length - 1}/{entry.size}"))
        if file is not None:
            return Response(status, headers=headers, file=(file, start, length))
        return Response(status, data[start:start + length], headers=headers)


def _byte_range(header: str | None, size: int) -> tuple[int, int, bool] | None:
    """`(start, length, partial)` that a `Range` header asks for: the whole file (not partial)
    when absent or not understood, None when it cannot be satisfied."""
    m = _RANGE_RE.fullmatch(header) if header else None
    if m is None or not (m.group(1) or m.group(2)):
        return 0, size, False
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    else:  # a suffix: the last N bytes
        start, end = max(0, size - int(m.group(2))), size - 1
    if start >= size or end < start:
        return None
    return start, end - start + 1, True

"""`ptmlock.testing.LocalHub` through the real huggingface_hub client over real HTTP, and real git."""
from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
import time

import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub import errors
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder
from huggingface_hub.utils import get_session

from ptmlock._hfcompat import transport_errors
from ptmlock.testing import Fault, LocalHub, populate_demo
from ptmlock.testing._card import parse_front_matter
from ptmlock.testing._snapshot import DEFAULT_GITATTRIBUTES, GitAttributes, lfs_pointer

# a 404 for a file of an existing repo: huggingface_hub 0.x raises EntryNotFoundError itself
RemoteEntryNotFoundError = getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError)
WEIGHTS = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(range(256)) * 4
README = b"---\nlicense: mit\nlibrary_name: transformers\npipeline_tag: fill-mask\nbase_model: org/base\n" \
         b"tags:\n- tiny\n---\n# tiny\n"
CONFIG = b'{"model_type": "bert", "hidden_size": 8}'
FILES = {"config.json": CONFIG, "model.safetensors": WEIGHTS, "README.md": README}


def git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def git(repo, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout.decode().strip()


# --- storage: real git, real LFS ------------------------------------------------------------------


def test_commit_sha_is_the_git_commit_and_files_are_git_blobs(hub):
    sha = hub.commit("org/tiny", FILES, message="add tiny\n\nlonger body")
    repo = hub.repo_path("org/tiny")
    assert git(repo, "rev-parse", "main") == sha
    assert git(repo, "cat-file", "-t", sha) == "commit"
    assert git(repo, "show", f"{sha}:config.json").encode() == CONFIG
    assert git(repo, "log", "--format=%s|%an", "-1", sha) == "add tiny|user"
    sha256 = hashlib.sha256(WEIGHTS).hexdigest()
    assert git(repo, "show", f"{sha}:model.safetensors").encode() + b"\n" == lfs_pointer(sha256, len(WEIGHTS))
    assert hub.lfs_path(sha256).read_bytes() == WEIGHTS
    assert hub.lfs_path(sha256) == hub.root / "lfs" / "objects" / sha256[:2] / sha256[2:4] / sha256
    assert git(repo, "show", f"{sha}^:.gitattributes") + "\n" == DEFAULT_GITATTRIBUTES
    assert git(repo, "log", "--format=%s", f"{sha}^") == "initial commit"


def test_identical_builds_give_identical_shas_and_different_repos_differ(tmp_path):
    shas = []
    for name in ("a", "b"):
        with LocalHub(tmp_path / name) as h:
            first = h.commit("org/tiny", FILES)
            shas.append((first, h.commit("org/tiny", {"config.json": b"{}"}, message="v2")))
            other = h.commit("org/other", FILES)
    assert shas[0] == shas[1]
    assert other != shas[0][0]


def test_nested_folders_deletes_and_custom_gitattributes(hub):
    hub.commit("org/t", {"a/b/c.txt": b"c", "a/d.txt": b"d", "e.txt": b"e", "big.dat": os.urandom(10 * 2**20 + 1)})
    sha = hub.commit("org/t", {".gitattributes": DEFAULT_GITATTRIBUTES + "*.txt filter=lfs diff=lfs merge=lfs -text\n",
                               "f.txt": b"now lfs"}, delete=["a/b", "e.txt"])
    repo = hub.repo_path("org/t")
    assert git(repo, "ls-tree", "-r", "--name-only", sha).split() == [".gitattributes", "a/d.txt", "big.dat", "f.txt"]
    info = {s.rfilename: s for s in HfApi().model_info("org/t", files_metadata=True).siblings}
    assert info["f.txt"].lfs is not None and info["a/d.txt"].lfs is None
    assert info["big.dat"].lfs is not None and info["big.dat"].size == 10 * 2**20 + 1  # > 10 MiB: always LFS
    with pytest.raises(ValueError):
        hub.commit("org/t", {"x.txt": b"x"}, delete=["missing.txt"])
    with pytest.raises(ValueError):
        hub.commit("org/t", {"../escape": b"x"})
    with pytest.raises(ValueError):
        hub.create_repo("org/t")
    assert hub.create_repo("org/t", exist_ok=True) == sha


def test_gitattributes_patterns_and_front_matter_parser():
    attrs = GitAttributes(DEFAULT_GITATTRIBUTES + "docs/*.md filter=lfs\n*.bin -filter\n")
    assert attrs.is_lfs("model.safetensors") and attrs.is_lfs("sub/dir/x.pt") and attrs.is_lfs("a.tar.gz")
    assert attrs.is_lfs("saved_model/v/variables.data") and attrs.is_lfs("docs/x.md")
    assert not attrs.is_lfs("README.md") and not attrs.is_lfs("x/docs/x.md") and not attrs.is_lfs("w.bin")
    card = parse_front_matter("---\nlicense: apache-2.0\nlanguage: [en, fr]\ntags:\n  - a\n  - 'b'\n"
                              "model-index:\n  name: x\nsmall: true\n---\ntext")
    assert card == {"license": "apache-2.0", "language": ["en", "fr"], "tags": ["a", "b"], "model-index": None,
                    "small": True}
    assert parse_front_matter("# no front matter") == {}


# --- repo info --------------------------------------------------------------------------------------


def test_model_info_with_files_metadata_matches_git_and_hashlib(hub):
    sha = hub.commit("org/tiny", FILES)
    info = HfApi().model_info("org/tiny", files_metadata=True)
    assert (info.id, info.sha, info.author, info.private, info.gated, info.disabled) == (
        "org/tiny", sha, "org", False, False, False)
    assert info.last_modified > info.created_at
    assert info.library_name == "transformers" and info.pipeline_tag == "fill-mask"
    assert info.card_data.license == "mit" and info.card_data.base_model == "org/base"
    assert {"license:mit", "transformers", "safetensors", "fill-mask", "tiny", "base_model:org/base"} <= set(info.tags)
    siblings = {s.rfilename: s for s in info.siblings}
    assert list(siblings) == [".gitattributes", "README.md", "config.json", "model.safetensors"]
    assert siblings["config.json"].size == len(CONFIG) and siblings["config.json"].blob_id == git_blob(CONFIG)
    assert siblings["config.json"].lfs is None
    weights = siblings["model.safetensors"]
    pointer = lfs_pointer(hashlib.sha256(WEIGHTS).hexdigest(), len(WEIGHTS))
    assert weights.size == len(WEIGHTS) and weights.blob_id == git_blob(pointer)
    assert weights.lfs.sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert weights.lfs.size == len(WEIGHTS) and weights.lfs.pointer_size == len(pointer)
    assert weights.blob_id == git(hub.repo_path("org/tiny"), "rev-parse", f"{sha}:model.safetensors")


def test_model_info_without_metadata_and_with_expand(hub):
    sha = hub.commit("org/tiny", FILES)
    info = HfApi().model_info("org/tiny")
    assert all(s.size is None and s.blob_id is None for s in info.siblings)
    expanded = HfApi().model_info("org/tiny", expand=["sha", "cardData"])
    assert expanded.sha == sha and expanded.card_data.license == "mit"
    assert expanded.siblings is None and expanded.tags is None
    secure = HfApi().model_info("org/tiny", securityStatus=True)
    assert secure.security_repo_status == {"scansDone": True, "filesWithIssues": []}


def test_dataset_repo_info_download_and_tree(hub):
    sha = hub.commit("org/data", {"data/train.csv": b"a,b\n1,2\n", "README.md": b"---\nlicense: cc-by-4.0\n---\n"},
                     repo_type="dataset")
    api = HfApi()
    info = api.dataset_info("org/data", files_metadata=True)
    assert info.sha == sha and info.card_data.license == "cc-by-4.0" and "license:cc-by-4.0" in info.tags
    assert api.repo_info("org/data", repo_type="dataset").sha == sha
    path = hf_hub_download("org/data", "data/train.csv", repo_type="dataset")
    assert open(path, "rb").read() == b"a,b\n1,2\n"
    assert [e.path for e in api.list_repo_tree("org/data", repo_type="dataset", recursive=True)] == [
        ".gitattributes", "README.md", "data", "data/train.csv"]
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/data")  # a dataset is not a model
    assert hub.count(path_contains="/api/datasets/org/data") >= 2


def test_revisions_branch_tag_short_and_full_sha(hub):
    first = hub.commit("org/tiny", FILES, message="v1")
    hub.create_tag("org/tiny", "v1.0", revision=first)
    second = hub.commit("org/tiny", {"config.json": b"{}"}, message="v2")
    hub.create_branch("org/tiny", "dev", revision=first)
    pr = hub.commit("org/tiny", {"pr.txt": b"pr"}, branch="refs/pr/1")
    api = HfApi()
    for revision, want in {"main": second, "dev": first, "v1.0": first, first[:7]: first, first: first,
                           None: second, "refs/pr/1": pr}.items():
        assert api.model_info("org/tiny", revision=revision).sha == want, revision
    assert hub.count(path_contains="/revision/refs/pr/1") == 1  # sent as refs%2Fpr%2F1, decoded in the log
    if hasattr(api, "resolve_revision"):  # huggingface_hub 1.x+
        resolved = api.resolve_revision("org/tiny", revision="v1.0")
        assert (resolved.resolved, resolved.initial) == (first, "v1.0")
    for bad in ("v9", "0" * 40, first[:6]):
        with pytest.raises(RevisionNotFoundError):
            api.model_info("org/tiny", revision=bad)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("org/tiny", "config.json", revision="nope")
    hub.move_branch("org/tiny", "dev", second)
    hub.delete_tag("org/tiny", "v1.0")
    assert api.model_info("org/tiny", revision="dev").sha == second
    with pytest.raises(RevisionNotFoundError):
        api.model_info("org/tiny", revision="v1.0")


def test_refs_and_commits_listing(hub):
    shas = [hub.commit("org/tiny", {"n.txt": str(i)}, message=f"commit {i}\n\nbody {i}") for i in range(3)]
    hub.create_tag("org/tiny", "v1", revision=shas[0])
    hub.create_branch("org/tiny", "dev", revision=shas[1])
    hub.commit("org/tiny", {"pr.txt": "x"}, branch="refs/pr/1")
    api = HfApi()
    refs = api.list_repo_refs("org/tiny", include_pull_requests=True)
    assert [(b.name, b.ref, b.target_commit) for b in refs.branches] == [
        ("dev", "refs/heads/dev", shas[1]), ("main", "refs/heads/main", shas[2])]
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", shas[0])]
    assert [p.ref for p in refs.pull_requests] == ["refs/pr/1"] and refs.converts == []
    hub.commits_page_size = 2
    hub.reset_requests()
    commits = api.list_repo_commits("org/tiny")
    assert [c.commit_id for c in commits[:3]] == shas[::-1]
    assert [c.title for c in commits] == ["commit 2", "commit 1", "commit 0", "initial commit"]
    assert commits[0].message == "body 2" and commits[0].authors == ["user"] and commits[-1].authors == ["system"]
    assert commits[0].created_at > commits[1].created_at
    assert hub.count(path_contains="/commits/") == 2  # two pages, followed via the Link header


# --- downloads ------------------------------------------------------------------------------------


def test_hf_hub_download_and_snapshot_download_are_byte_exact(hub, tmp_path):
    files = {**FILES, "sub/dir/vocab.txt": b"[PAD]\n[UNK]\n"}
    sha = hub.commit("org/tiny", files)
    for name, content in files.items():
        assert open(hf_hub_download("org/tiny", name), "rb").read() == content
    blobs = os.listdir(tmp_path / "hf-home" / "hub" / "models--org--tiny" / "blobs")
    assert hashlib.sha256(WEIGHTS).hexdigest() in blobs and git_blob(CONFIG) in blobs  # cache names by etag
    folder = snapshot_download("org/tiny", revision=sha, local_dir=tmp_path / "snap")
    for name, content in files.items():
        assert (tmp_path / "snap" / name).read_bytes() == content
    assert os.path.basename(snapshot_download("org/tiny")) == sha
    assert folder == str(tmp_path / "snap")


def test_resolve_headers_head_and_ranges(hub):
    sha = hub.commit("org/tiny", FILES)
    sha256 = hashlib.sha256(WEIGHTS).hexdigest()
    meta = get_hf_file_metadata(hf_hub_url("org/tiny", "model.safetensors"))
    assert (meta.commit_hash, meta.etag, meta.size) == (sha, sha256, len(WEIGHTS))
    meta = get_hf_file_metadata(hf_hub_url("org/tiny", "config.json", revision=sha[:8]))
    assert (meta.commit_hash, meta.etag, meta.size) == (sha, git_blob(CONFIG), len(CONFIG))
    url = hf_hub_url("org/tiny", "model.safetensors")
    http = get_session()  # huggingface_hub's own client: requests (0.x) or httpx (1.x+)
    head = http.head(url)
    assert head.headers["X-Linked-Etag"] == f'"{sha256}"' and head.headers["X-Linked-Size"] == str(len(WEIGHTS))
    assert head.headers["Content-Length"] == str(len(WEIGHTS)) and not head.content
    assert not any(h.lower().startswith("x-xet") for h in head.headers) and "link" not in head.headers
    assert http.head(hf_hub_url("org/tiny", "config.json")).headers["ETag"] == f'"{git_blob(CONFIG)}"'
    part = http.get(url, headers={"Range": "bytes=100-"})
    assert part.status_code == 206 and part.content == WEIGHTS[100:]
    assert part.headers["Content-Range"] == f"bytes 100-{len(WEIGHTS) - 1}/{len(WEIGHTS)}"
    assert http.get(url, headers={"Range": "bytes=-10"}).content == WEIGHTS[-10:]
    assert http.get(url, headers={"Range": "bytes=5-9"}).content == WEIGHTS[5:10]
    assert http.get(url, headers={"Range": "bytes=0-"}).status_code == 206
    assert http.get(url, headers={"Range": f"bytes={len(WEIGHTS)}-"}).status_code == 416


def test_cut_connection_is_resumed_with_range(hub):
    # huggingface_hub reads bodies in 10 MiB chunks and resumes from the last whole chunk it got,
    # so the cut must come after the first 10 MiB for its retry to send `Range: bytes=10485760-`.
    big = os.urandom(10 * 2**20 + 4096)
    hub.commit("org/tiny", {"big.bin": big})
    fault = hub.add_fault(Fault(match=r"GET /org/tiny/resolve/main/big\.bin", cut_after=10 * 2**20 + 100))
    path = hf_hub_download("org/tiny", "big.bin")
    assert open(path, "rb").read() == big
    assert fault.hits == 1
    assert [r.status for r in hub.requests if r.method == "GET"] == [200, 206]


# --- tree, paths-info --------------------------------------------------------------------------------


def test_tree_listing_is_paginated_with_link_header(hub):
    files = {f"shards/part-{i:02d}.bin": bytes([i]) * 10 for i in range(7)}
    hub.commit("org/tiny", {**files, "config.json": CONFIG})
    hub.tree_page_size = 3
    api = HfApi()
    hub.reset_requests()
    entries = list(api.list_repo_tree("org/tiny", recursive=True))
    assert [e.path for e in entries] == [".gitattributes", "config.json", "shards", *files]
    assert hub.count(path_contains="/tree/") == 4  # 10 entries, 3 per page
    part = next(e for e in entries if e.path == "shards/part-03.bin")
    assert isinstance(part, RepoFile) and part.lfs.sha256 == hashlib.sha256(bytes([3]) * 10).hexdigest()
    assert part.size == 10 and part.blob_id == git_blob(lfs_pointer(part.lfs.sha256, 10))
    top = list(api.list_repo_tree("org/tiny"))
    assert [(type(e), e.path) for e in top] == [(RepoFile, ".gitattributes"), (RepoFile, "config.json"),
                                                (RepoFolder, "shards")]
    assert len(list(api.list_repo_tree("org/tiny", "shards"))) == 7
    expanded = list(api.list_repo_tree("org/tiny", recursive=True, expand=True))
    assert all(e.last_commit is not None for e in expanded)
    assert expanded[0].last_commit.title == "initial commit"
    with pytest.raises(RemoteEntryNotFoundError):
        list(api.list_repo_tree("org/tiny", "missing"))
    assert sorted(api.list_repo_files("org/tiny")) == sorted([".gitattributes", "config.json", *files])


def test_paths_info_returns_existing_files_and_folders(hub):
    hub.commit("org/tiny", {**FILES, "sub/a.txt": b"a"})
    found = HfApi().get_paths_info("org/tiny", ["config.json", "sub", "nope.txt", "model.safetensors"], expand=True)
    by_path = {e.path: e for e in found}
    assert list(by_path) == ["config.json", "sub", "model.safetensors"]
    assert isinstance(by_path["sub"], RepoFolder) and by_path["sub"].last_commit is not None
    assert by_path["model.safetensors"].lfs.size == len(WEIGHTS)
    assert by_path["config.json"].blob_id == git_blob(CONFIG)


# --- renames, gating, privacy, errors ---------------------------------------------------------------


def test_renamed_repo_redirects_to_the_canonical_id(hub):
    sha = hub.commit("google-bert/bert-base-uncased", FILES)
    hub.rename("bert-base-uncased", "google-bert/bert-base-uncased")
    api = HfApi()
    info = api.model_info("bert-base-uncased", revision="main", files_metadata=True)
    assert (info.id, info.sha) == ("google-bert/bert-base-uncased", sha)
    assert open(hf_hub_download("bert-base-uncased", "config.json"), "rb").read() == CONFIG
    assert api.model_info("Google-BERT/Bert-Base-Uncased").id == "google-bert/bert-base-uncased"
    assert hub.count(path_contains="/api/models/bert-base-uncased") == 1
    assert any(r.status == 307 and r.path.startswith("/bert-base-uncased/resolve/") for r in hub.requests)
    moved = hub.commit("org/old", FILES)
    hub.rename("org/old", "org/new")
    assert api.model_info("org/old").id == "org/new" and api.model_info("org/new").sha == moved
    assert git(hub.repo_path("org/new"), "rev-parse", "main") == moved


def test_private_repo_needs_a_valid_token(hub, monkeypatch):
    hub.create_repo("org/private", private=True)
    sha = hub.commit("org/private", FILES)
    hub.tokens.add("hf_valid_token_123")
    api = HfApi()
    with pytest.raises(RepositoryNotFoundError) as anonymous:
        api.model_info("org/private")
    assert anonymous.value.response.status_code == 401
    with pytest.raises(RepositoryNotFoundError) as wrong:
        api.model_info("org/private", token="hf_wrong_token_456")
    assert wrong.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("org/private", "config.json")
    monkeypatch.setenv("HF_TOKEN", "hf_valid_token_123")
    assert api.model_info("org/private").private is True
    assert api.model_info("org/private").sha == sha
    assert open(hf_hub_download("org/private", "config.json"), "rb").read() == CONFIG


def test_gated_repo_info_is_public_but_downloads_need_a_token(hub):
    hub.commit("org/gated", FILES)
    hub.set_gated("org/gated", True)
    hub.tokens.add("hf_valid_token_123")
    assert HfApi().model_info("org/gated").gated == "auto"
    with pytest.raises(GatedRepoError) as anonymous:
        hf_hub_download("org/gated", "config.json")
    assert anonymous.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as wrong:
        hf_hub_download("org/gated", "config.json", token="hf_wrong_token_456")
    assert wrong.value.response.status_code == 403
    path = hf_hub_download("org/gated", "model.safetensors", token="hf_valid_token_123")
    assert open(path, "rb").read() == WEIGHTS
    hub.set_gated("org/gated", "manual")
    assert HfApi().model_info("org/gated").gated == "manual"


def test_errors_map_to_huggingface_hub_exceptions(hub):
    hub.commit("org/tiny", FILES)
    api = HfApi()
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/nope")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("org/nope", "config.json")
    with pytest.raises(RevisionNotFoundError):
        list(api.list_repo_tree("org/tiny", revision="nope"))
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("org/tiny", "missing.json")
    assert api.file_exists("org/tiny", "config.json") and not api.file_exists("org/tiny", "missing.json")
    assert api.repo_exists("org/tiny") and not api.repo_exists("org/nope")
    hub.add_fault(Fault(match=r"GET /api/models/org/tiny", status=500))
    with pytest.raises(HfHubHTTPError) as server_error:
        api.model_info("org/tiny")
    assert server_error.value.response.status_code == 500
    hub.add_fault(Fault(match=r"GET /api/models/org/tiny", status=403, error_code="GatedRepo"))
    with pytest.raises(GatedRepoError):
        api.model_info("org/tiny")


# --- faults, latency, request log -------------------------------------------------------------------


def test_500_once_then_success_and_retrying_calls_recover(hub):
    sha = hub.commit("org/tiny", FILES)
    api = HfApi()
    fault = hub.add_fault(Fault(match=r"GET /api/models/org/tiny$", status=500, times=1))
    with pytest.raises(HfHubHTTPError):
        api.model_info("org/tiny")
    assert api.model_info("org/tiny").sha == sha and fault.hits == 1
    assert [r.status for r in hub.requests] == [500, 200]
    hub.add_fault(Fault(match=r"/tree/", status=503, times=1))
    assert len(list(api.list_repo_tree("org/tiny"))) == 4  # http_backoff retries 5xx
    assert [r.status for r in hub.requests if "/tree/" in r.path] == [503, 200]


def test_latency_delay_and_client_timeout(hub):
    hub.commit("org/tiny", FILES)
    api = HfApi()
    hub.latency = 0.2
    start = time.monotonic()
    api.model_info("org/tiny")
    assert time.monotonic() - start >= 0.2
    hub.latency = 0.0
    hub.add_fault(Fault(match=r"GET /api/models/org/tiny", delay=1.0))
    with pytest.raises(transport_errors()):  # the client's timeout error
        api.model_info("org/tiny", timeout=0.2)
    assert api.model_info("org/tiny", timeout=5).id == "org/tiny"


def test_transform_json_serves_unsafe_answers(hub):
    hub.commit("org/tiny", FILES)
    hub.add_fault(Fault(match=r"GET /api/models/org/tiny", times=None, transform_json=lambda d: {
        **d, "sha": "not-a-sha", "siblings": [*d["siblings"], {"rfilename": "../../etc/passwd", "size": -5}]}))
    info = HfApi().model_info("org/tiny", files_metadata=True)
    assert info.sha == "not-a-sha"
    assert info.siblings[-1].rfilename == "../../etc/passwd" and info.siblings[-1].size == -5
    hub.clear_faults()
    hub.add_fault(Fault(match=r"/tree/", transform_json=lambda items: [{**i, "path": "/abs"} for i in items]))
    assert {e.path for e in HfApi().list_repo_tree("org/tiny")} == {"/abs"}


def test_corrupt_body_is_served_as_is(hub):
    hub.commit("org/tiny", FILES)
    corrupt = bytes(len(WEIGHTS))
    hub.add_fault(Fault(match=r"GET /org/tiny/resolve/.*/model\.safetensors", body=corrupt))
    path = hf_hub_download("org/tiny", "model.safetensors")
    assert open(path, "rb").read() == corrupt  # the client trusts the bytes: catching this is ptmlock's job
    assert hub.requests[-1].status == 200


def test_request_log_counts_and_resets(hub):
    hub.commit("org/tiny", FILES)
    api = HfApi()
    api.model_info("org/tiny", files_metadata=True)
    api.model_info("org/tiny", revision="main")
    hf_hub_download("org/tiny", "config.json")
    assert hub.requests[0] == ("GET", "/api/models/org/tiny", "blobs=true", 200)
    assert hub.count() == 4
    assert hub.count(path_contains="/api/models/org/tiny") == 2
    assert hub.count(method="HEAD") == 1 and hub.count(method="get", path_contains="/resolve/") == 1
    hub.reset_requests()
    assert hub.requests == [] and hub.count() == 0


def test_partial_mirror_answers_bare_siblings_but_a_complete_tree(hub):
    hub.commit("org/tiny", FILES)
    hub.mirror_mode = "partial"
    info = HfApi().model_info("org/tiny", files_metadata=True)
    assert [s.rfilename for s in info.siblings] == [".gitattributes", "README.md", "config.json", "model.safetensors"]
    assert all(s.size is None and s.blob_id is None and s.lfs is None for s in info.siblings)
    tree = {e.path: e for e in HfApi().list_repo_tree("org/tiny", recursive=True)}
    assert tree["model.safetensors"].lfs.sha256 == hashlib.sha256(WEIGHTS).hexdigest()


def test_concurrent_repo_info_under_latency_is_served_in_parallel(hub):
    ids = [f"bench/m{i:02d}" for i in range(40)]
    for i, repo_id in enumerate(ids):
        hub.commit(repo_id, {"config.json": json.dumps({"i": i}).encode(), "model.safetensors": WEIGHTS})
    hub.latency = 0.05
    api = HfApi()
    results: dict[str, str] = {}

    def fetch(repo_id: str) -> None:
        results[repo_id] = api.model_info(repo_id, files_metadata=True).sha

    threads = [threading.Thread(target=fetch, args=(r,)) for r in ids]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - start < 1.0  # sequentially this would take 40 x 50 ms = 2 s
    assert results == {r: hub.resolve(r) for r in ids}
    assert hub.server_errors == []


# --- persistence, demo, CLI --------------------------------------------------------------------------


def test_a_new_hub_on_the_same_root_serves_the_same_repos(tmp_path):
    with LocalHub(tmp_path / "hub") as first:
        sha = first.commit("org/tiny", {**FILES, "sub/x.txt": b"x"})
        first.create_tag("org/tiny", "v1", revision=sha)
        first.create_repo("org/private", private=True)
        first.set_gated("org/tiny", "manual")
        first.rename("org/old", "org/tiny")
        written = first.snapshot(first._repo("org/tiny", "model"), sha)
    with LocalHub(tmp_path / "hub") as second:
        api = HfApi(endpoint=second.endpoint)
        info = api.model_info("org/old", revision="v1", files_metadata=True)
        assert (info.id, info.sha, info.gated, info.card_data.license) == ("org/tiny", sha, "manual", "mit")
        with pytest.raises(RepositoryNotFoundError):
            api.model_info("org/private")
        read_back = second.snapshot(second._repo("org/tiny", "model"), sha)
        assert second._snapshots is not first._snapshots
    assert read_back == written  # the snapshot read with ls-tree equals the one built while committing
    assert read_back.card == written.card


def test_populate_demo_is_deterministic_and_idempotent(tmp_path):
    with LocalHub(tmp_path / "a") as a, LocalHub(tmp_path / "b") as b:
        shas = populate_demo(a)
        assert populate_demo(b) == shas
        assert populate_demo(a) == shas
        assert set(shas) == {"demo/tiny-bert", "demo/tiny-roberta", "demo/tiny-whisper", "demo/tiny-dataset"}
        assert a.resolve("demo/tiny-whisper", "v1.0") == shas["demo/tiny-whisper"]
        weights = hf_hub_download("demo/tiny-bert", "model.safetensors", endpoint=a.endpoint)
    raw = open(weights, "rb").read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    ends = [t["data_offsets"][1] for name, t in header.items() if name != "__metadata__"]
    assert length % 8 == 0 and 8 + length + max(ends) == len(raw)
    assert header["bert.embeddings.word_embeddings.weight"]["dtype"] == "F32"


def test_serve_demo_cli_prints_the_endpoint_and_serves(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "ptmlock.testing", "serve", "--root", str(tmp_path / "hub"),
                             "--demo", "--token", "hf_cli_token_123"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("endpoint=http://127.0.0.1:"), proc.stderr.read() if not line else line
        api = HfApi(endpoint=line.split("=", 1)[1])
        info = api.model_info("demo/tiny-bert", files_metadata=True)
        assert info.card_data.license == "apache-2.0"
        assert {s.rfilename for s in info.siblings} >= {"config.json", "vocab.txt", "model.safetensors"}
        assert api.dataset_info("demo/tiny-dataset").card_data.license == "cc-by-4.0"
        assert [t.name for t in api.list_repo_refs("demo/tiny-whisper").tags] == ["v1.0"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    err = proc.stderr.read()
    assert proc.returncode == 0 and "Traceback" not in err, err


def _testing_cli(*args):
    return subprocess.run([sys.executable, "-m", "ptmlock.testing", *args], capture_output=True, text=True, timeout=120)


def test_serve_demo_as_printed_then_upstream_moves_from_the_shell(tmp_path):
    """Issue 17, item 4: `serve --demo` needs no --root, and commits, branch moves and tags made
    from a shell reach the running server at once, so `ptmlock outdated` sees upstream move."""
    proc = subprocess.Popen([sys.executable, "-m", "ptmlock.testing", "serve", "--demo"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = proc.stdout.readline().strip().split("=", 1)[1]
        root = proc.stdout.readline().strip().split("=", 1)[1]
        assert endpoint.startswith("http://127.0.0.1:") and os.path.isdir(root)
        api = HfApi(endpoint=endpoint)
        first = api.model_info("demo/tiny-bert").sha

        project = tmp_path / "proj"
        project.mkdir()
        env = {**os.environ, "HF_ENDPOINT": endpoint}
        ptm = lambda *a: subprocess.run([sys.executable, "-m", "ptmlock", *a], cwd=project, capture_output=True,  # noqa: E731
                                        text=True, env=env, timeout=120)
        assert ptm("init").returncode == 0
        assert ptm("add", "demo/tiny-bert", "--role", "text").returncode == 0

        (tmp_path / "notes.txt").write_text("new upstream file\n")
        r = _testing_cli("commit", "--root", root, "demo/tiny-bert", f"NOTES.md={tmp_path / 'notes.txt'}",
                         "--message", "upstream moved")
        assert r.returncode == 0, r.stderr
        moved = r.stdout.strip()
        assert len(moved) == 40 and moved != first
        assert api.model_info("demo/tiny-bert").sha == moved  # the running server sees it at once
        r = ptm("outdated")
        assert r.returncode == 1 and f"demo/tiny-bert  default branch  {first[:12]} -> {moved[:12]}" in r.stdout

        r = _testing_cli("tag", "--root", root, "demo/tiny-bert", "v2.0", "--revision", moved)
        assert r.returncode == 0 and r.stdout.strip() == moved, r.stderr
        r = _testing_cli("branch", "--root", root, "demo/tiny-bert", "main", "--revision", first)  # force-push back
        assert r.returncode == 0 and r.stdout.strip() == first, r.stderr
        refs = api.list_repo_refs("demo/tiny-bert")
        assert "v2.0" in [t.name for t in refs.tags]
        assert {b.name: b.target_commit for b in refs.branches}["main"] == first
        assert ptm("outdated").returncode == 0

        r = _testing_cli("tag", "--root", root, "demo/tiny-bert", "v2.0")
        assert r.returncode == 1 and r.stderr == "error: refs/tags/v2.0 already exists in 'demo/tiny-bert'\n", r.stderr
        r = _testing_cli("commit", "--root", root, "demo/tiny-bert", str(tmp_path / "missing.bin"))
        assert r.returncode == 1 and "cannot read" in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    err = proc.stderr.read()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert not os.path.exists(root)  # the temporary root is removed on exit


def test_a_served_hub_sees_changes_made_by_another_local_hub_on_its_root(tmp_path):
    with LocalHub(tmp_path / "hub") as served:
        served.commit("org/a", {"config.json": b"{}"})
        api = HfApi(endpoint=served.endpoint)
        other = LocalHub(tmp_path / "hub")  # e.g. another process; never started
        sha = other.commit("org/a", {"config.json": b'{"v": 2}'})
        other.commit("org/new", {"config.json": b"{}"})
        other.create_branch("org/a", "dev", revision=sha)
        assert api.model_info("org/a").sha == sha
        assert api.model_info("org/new").id == "org/new"
        assert "dev" in [b.name for b in api.list_repo_refs("org/a").branches]
        served.commit("org/a", {"x.txt": b"x"})  # the served hub goes on writing to the same repos
        assert api.model_info("org/a").sha == served.resolve("org/a")


def test_concurrent_requests_after_another_hub_moved_a_branch_all_see_the_new_commit(tmp_path):
    # A served hub found the state changed on one thread, marked it seen, then re-read its repos;
    # a request on another thread in between answered from the old repos (`ptmlock outdated`'s
    # parallel requests read a branch at its old commit, about one run in two).
    with LocalHub(tmp_path / "hub") as served:
        repos = [f"org/m{i}" for i in range(12)]
        for repo in repos:
            served.commit(repo, {"config.json": b"{}"})
        api = HfApi(endpoint=served.endpoint)
        for repo in repos:
            api.model_info(repo)  # every repo's refs are loaded (and cached) by the server
        for round_ in range(5):
            other = LocalHub(tmp_path / "hub")  # e.g. `python -m ptmlock.testing commit`
            moved = {repo: other.commit(repo, {"config.json": f'{{"v": {round_}}}'}) for repo in repos}
            seen: dict[str, str] = {}
            threads = [threading.Thread(target=lambda r=repo: seen.__setitem__(r, api.model_info(r).sha))
                       for repo in repos]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert seen == moved, round_

"""The pure parts of sync: model selection, the plan (cache layout paths, refs, include patterns)
and the git/LFS hashes. The CLI tests against the local hub are in test_cli_sync.py."""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from ptmlock.install.hashing import VerifiedCache, digest_of, hash_file
from ptmlock.filesets import matches
from ptmlock.install.hf_cache import hub_cache_dir, ref_name, select_models
from ptmlock.errors import LockfileError, RoleError
from ptmlock.lockfile.model import Lock, LockedFile, LockedModel
from ptmlock.install.sync import plan_sync

C1 = "a" * 40
C2 = "b" * 40


def _blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs(path: str, data: bytes) -> LockedFile:
    return LockedFile(path=path, size=len(data), blob_id="c" * 40, sha256=hashlib.sha256(data).hexdigest())


def _plain(path: str, data: bytes) -> LockedFile:
    return LockedFile(path=path, size=len(data), blob_id=_blob(data))


def _lock(*models: LockedModel) -> Lock:
    return Lock(manifest_hash="sha256:" + "0" * 64, models=models)


BERT = LockedModel(id="org/bert", commit=C1, role="text", requested=None,
                   files=(_plain("config.json", b"{}"), _lfs("model.safetensors", b"w" * 10),
                          _plain("sub/tok.json", b"[]")))
ROBERTA = LockedModel(id="org/roberta", commit=C2, role="text", requested="v1.0", include=("*.json",),
                      files=(_plain("config.json", b"{1}"), _lfs("pytorch_model.bin", b"x")))
WHISPER = LockedModel(id="org/whisper", commit=C1, role="speech", requested=C1, files=(_plain("a.txt", b"a"),))
ADAPTER_BASE = LockedModel(id="org/base", commit=C2, required_by=("org/whisper",), reason="adapter base",
                           files=(_plain("b.txt", b"b"),))


def test_cache_plan_uses_huggingface_hub_layout(tmp_path):
    plan = plan_sync(_lock(BERT), cache_dir=tmp_path)
    (mp,) = plan.models
    assert mp.root == tmp_path / "models--org--bert"
    assert mp.ref == "main"
    by_path = {t.file.path: t for t in mp.files}
    weights = by_path["model.safetensors"]
    assert weights.store == mp.root / "blobs" / hashlib.sha256(b"w" * 10).hexdigest()
    assert weights.dest == mp.root / "snapshots" / C1 / "model.safetensors"
    assert weights.partial.name == weights.store.name + ".incomplete"
    assert weights.guard == tmp_path / ".locks" / "models--org--bert" / f"{weights.store.name}.lock"
    tok = by_path["sub/tok.json"]
    assert tok.store.name == _blob(b"[]")
    assert tok.dest == mp.root / "snapshots" / C1 / "sub" / "tok.json"


def test_dataset_repos_get_datasets_folder(tmp_path):
    ds = LockedModel(id="org/data", commit=C1, repo_type="dataset", files=(_plain("x.csv", b"1"),))
    assert plan_sync(_lock(ds), cache_dir=tmp_path).models[0].root.name == "datasets--org--data"


def test_renamed_repo_is_cached_under_its_canonical_id(tmp_path):
    moved = LockedModel(id="old/name", canonical_id="new/name", commit=C1, files=(_plain("a", b"a"),))
    assert plan_sync(_lock(moved), cache_dir=tmp_path).models[0].root.name == "models--new--name"
    assert plan_sync(_lock(moved), target=tmp_path).models[0].root == tmp_path / "old" / "name"


def test_target_plan_is_one_plain_folder_per_model(tmp_path):
    plan = plan_sync(_lock(BERT), target=tmp_path / "out")
    task = next(t for t in plan.tasks if t.file.path == "sub/tok.json")
    assert plan.layout == "target"
    assert task.dest == task.store == tmp_path / "out" / "org" / "bert" / "sub" / "tok.json"
    assert task.partial == tmp_path / "out" / "org" / "bert" / ".cache" / "ptmlock" / "sub" / "tok.json.incomplete"


def test_include_patterns_select_files_like_huggingface_hub():
    from huggingface_hub.utils import filter_repo_objects

    paths = ["config.json", "model.safetensors", "onnx/model.onnx", "sub/a/tok.json", "README.md", "x.JSON"]
    for patterns in (["*.json"], ["onnx/"], ["sub/*"], ["*.safetensors", "README.md"], ["nothing"], ["*"]):
        assert [p for p in paths if matches(p, patterns)] == list(filter_repo_objects(paths, allow_patterns=patterns))
    assert all(matches(p, ()) for p in paths)


def test_plan_honours_include(tmp_path):
    plan = plan_sync(_lock(ROBERTA), cache_dir=tmp_path)
    assert [t.file.path for t in plan.tasks] == ["config.json"]


def test_ref_is_requested_branch_or_main_and_none_for_a_commit():
    assert ref_name(BERT) == "main"
    assert ref_name(ROBERTA) == "v1.0"
    assert ref_name(WHISPER) is None
    assert ref_name(LockedModel(id="a/b", commit=C1, requested="../../evil")) is None


def test_select_by_role_and_model_adds_required_models():
    lock = _lock(ADAPTER_BASE, BERT, ROBERTA, WHISPER)
    assert [m.id for m in select_models(lock)] == ["org/base", "org/bert", "org/roberta", "org/whisper"]
    assert [m.id for m in select_models(lock, roles=["text"])] == ["org/bert", "org/roberta"]
    assert [m.id for m in select_models(lock, roles=["speech"])] == ["org/base", "org/whisper"]
    assert [m.id for m in select_models(lock, model_ids=["ORG/Bert"])] == ["org/bert"]
    assert [m.id for m in select_models(lock, roles=["speech"], model_ids=["org/bert"])] == [
        "org/base", "org/bert", "org/whisper"]


def test_unknown_role_or_model_is_a_clear_error():
    lock = _lock(BERT, WHISPER)
    with pytest.raises(RoleError, match=r"No locked model has the role 'vision'\. Roles in ptm.lock: speech, text"):
        select_models(lock, roles=["vision"])
    with pytest.raises(LockfileError, match=r"'org/nope' is not in ptm.lock \(locked: org/bert, org/whisper\)"):
        select_models(lock, model_ids=["org/nope"])


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../b", "a//b", "C:/x", "a\\b", "./a"])
def test_unsafe_paths_in_the_lock_are_refused(tmp_path, path):
    bad = LockedModel(id="org/m", commit=C1, files=(_plain(path, b"x"),))
    with pytest.raises(LockfileError, match="would escape its folder"):
        plan_sync(_lock(bad), cache_dir=tmp_path)


def test_a_file_without_hash_cannot_be_planned(tmp_path):
    bad = LockedModel(id="org/m", commit=C1, files=(LockedFile(path="a", size=1),))
    with pytest.raises(LockfileError, match=r"no valid hash for org/m/a.*ptmlock lock --upgrade org/m"):
        plan_sync(_lock(bad), cache_dir=tmp_path)


def test_non_huggingface_models_are_set_apart_for_their_own_sync(tmp_path):
    url = LockedModel(id="https://x/y.bin", hub="url", commit="sha256", files=())
    plan = plan_sync(_lock(BERT, url), cache_dir=tmp_path)
    assert [m.model.id for m in plan.models] == ["org/bert"]
    assert plan.others == (url,)
    assert plan.skipped("is not checked") == (("https://x/y.bin", "hub 'url' is not checked"),)


def test_hub_cache_dir_follows_huggingface_hub_env_rules(monkeypatch, tmp_path):
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub_cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HUGGINGFACE_HUB_CACHE", str(tmp_path / "legacy"))
    assert hub_cache_dir() == tmp_path / "legacy"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "new"))
    assert hub_cache_dir() == tmp_path / "new"


def test_git_blob_id_matches_git_hash_object(tmp_path):
    data = b"hello\x00world\n" * 1000
    path = tmp_path / "f"
    path.write_bytes(data)
    want = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    assert hash_file(path, _plain("f", data)) == (want, len(data))
    assert hash_file(path, _lfs("f", data))[0] == hashlib.sha256(data).hexdigest()


def test_verified_cache_skips_reads_until_the_file_changes(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc" * 1000)
    file = _lfs("f", b"abc" * 1000)
    cache = VerifiedCache(tmp_path / "cache.json")
    assert digest_of(str(path), file, cache=cache)[1:] == (3000, False)
    cache.save()
    again = VerifiedCache(tmp_path / "cache.json")
    assert digest_of(str(path), file, cache=again) == (file.sha256, 0, True)
    assert digest_of(str(path), file, cache=again, lookup=False)[1:] == (3000, False)
    st = path.stat()
    with open(path, "r+b") as f:  # flip a byte and put the mtime back: the ctime still moves
        f.write(b"X")
    import os

    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    digest, read, cached = digest_of(str(path), file, cache=again)
    assert (read, cached) == (3000, False) and digest != file.sha256


def test_a_corrupt_verified_cache_is_ignored(tmp_path):
    (tmp_path / "cache.json").write_text("{not json")
    cache = VerifiedCache(tmp_path / "cache.json")
    path = tmp_path / "f"
    path.write_bytes(b"x")
    assert digest_of(str(path), _plain("f", b"x"), cache=cache)[0] == _blob(b"x")
    cache.save()
    assert VerifiedCache(tmp_path / "cache.json").get(str(path), path.stat(), "git-blob") == _blob(b"x")


def test_plan_is_pure(tmp_path):
    plan_sync(_lock(BERT, ROBERTA), cache_dir=tmp_path / "nothing-here")
    assert not (tmp_path / "nothing-here").exists()
    assert isinstance(plan_sync(_lock(BERT), cache_dir=Path("rel")).root, Path)


def test_start_writeback_never_raises_whatever_the_descriptor(tmp_path):
    """It only gives the final fsync a head start: on a pipe, a closed descriptor or past the end
    of a file it does nothing, and the bytes written are unchanged."""
    from ptmlock._fs import start_writeback

    path = tmp_path / "f.bin"
    data = os.urandom(3 * 1024 * 1024)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, data)
        start_writeback(fd, 0, len(data))
        start_writeback(fd, len(data), 10 * len(data))  # past the end
    finally:
        os.close(fd)
    start_writeback(fd, 0, 1)  # closed
    r, w = os.pipe()
    try:
        start_writeback(w, 0, 1)
    finally:
        os.close(r), os.close(w)
    assert path.read_bytes() == data

"""`verify()` and its pure `compare()` on cache layouts built by hand (no hub needed).
The CLI and the end-to-end tamper tests are in test_cli_verify.py."""
from __future__ import annotations

import hashlib
import os

import pytest

from ptmlock.install.hashing import VerifiedCache
from ptmlock.install.hf_cache import plan_files
from ptmlock.lockfile.model import Lock, LockedFile, LockedModel
from ptmlock.install.verify import HASH, LINK, MISSING, SIZE, Seen, compare, verify

C = "c" * 40
WEIGHTS = b"\x00weights" * 100
CONFIG = b'{"a": 1}'


def _model() -> LockedModel:
    return LockedModel(id="org/m", commit=C, files=(
        LockedFile("config.json", len(CONFIG), hashlib.sha1(b"blob %d\0" % len(CONFIG) + CONFIG).hexdigest()),
        LockedFile("w.safetensors", len(WEIGHTS), "d" * 40, hashlib.sha256(WEIGHTS).hexdigest()),
    ))


def _build(root, model, contents):
    """Lay files out as huggingface_hub does: blobs + relative snapshot links."""
    for task in plan_files([model], cache_dir=root).tasks:
        task.store.parent.mkdir(parents=True, exist_ok=True)
        task.store.write_bytes(contents[task.file.path])
        task.dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(task.store, task.dest.parent), task.dest)


@pytest.fixture
def cache(tmp_path):
    return VerifiedCache(tmp_path / "verified.json")


@pytest.fixture
def layout(tmp_path):
    model = _model()
    _build(tmp_path / "hub", model, {"config.json": CONFIG, "w.safetensors": WEIGHTS})
    return tmp_path / "hub", Lock(manifest_hash="x", models=(model,))


def test_intact_cache_verifies_and_second_run_reads_nothing(layout, cache):
    root, lock = layout
    first = verify(lock, cache_dir=root, cache=cache)
    assert first.ok and first.hashed_bytes == len(WEIGHTS) + len(CONFIG) and first.cached_files == 0
    second = verify(lock, cache_dir=root, cache=cache)
    assert second.ok and second.hashed_bytes == 0 and second.cached_files == 2
    deep = verify(lock, cache_dir=root, cache=cache, deep=True)
    assert deep.ok and deep.hashed_bytes == len(WEIGHTS) + len(CONFIG)


def _problems(lock, root, cache):
    return {(p.path, p.kind) for p in verify(lock, cache_dir=root, cache=cache).problems}


def test_each_tamper_kind_is_caught_even_after_a_cached_run(layout, cache):
    root, lock = layout
    assert verify(lock, cache_dir=root, cache=cache).ok  # fills the verified cache
    tasks = {t.file.path: t for t in plan_files(lock.models, cache_dir=root).tasks}
    blob = tasks["w.safetensors"].store
    st = blob.stat()
    data = bytearray(blob.read_bytes())
    data[5] ^= 1
    blob.write_bytes(bytes(data))
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))  # hide the mtime change
    assert _problems(lock, root, cache) == {("w.safetensors", HASH)}
    blob.write_bytes(WEIGHTS[:-1])
    assert _problems(lock, root, cache) == {("w.safetensors", SIZE)}
    blob.write_bytes(WEIGHTS)
    tasks["config.json"].store.write_bytes(b'{"a": 2}')  # replaced, same size, git blob id
    assert _problems(lock, root, cache) == {("config.json", HASH)}
    tasks["config.json"].store.write_bytes(CONFIG)
    assert verify(lock, cache_dir=root, cache=cache).ok
    dest = tasks["config.json"].dest
    dest.unlink()
    os.symlink(os.path.relpath(blob, dest.parent), dest)  # points at the other blob
    assert _problems(lock, root, cache) == {("config.json", LINK)}
    dest.unlink()
    assert _problems(lock, root, cache) == {("config.json", MISSING)}
    blob.unlink()  # the weights link now dangles
    assert _problems(lock, root, cache) == {("config.json", MISSING), ("w.safetensors", MISSING)}


def test_problem_messages_and_json_shape(layout, cache):
    root, lock = layout
    task = next(t for t in plan_files(lock.models, cache_dir=root).tasks if t.file.path == "w.safetensors")
    task.store.write_bytes(b"x" * len(WEIGHTS))
    report = verify(lock, cache_dir=root, cache=cache)
    (problem,) = report.problems
    actual = hashlib.sha256(b"x" * len(WEIGHTS)).hexdigest()
    assert problem.message == (f"org/m: w.safetensors: altered: sha256 is {actual}, expected "
                               f"{hashlib.sha256(WEIGHTS).hexdigest()} ({task.dest})")
    data = report.to_dict()
    assert data["ok"] is False and data["layout"] == "cache" and data["files"] == 2
    assert data["models"] == [{"id": "org/m", "commit": C, "files": 2, "bytes": len(CONFIG) + len(WEIGHTS),
                               "problems": 1}]
    assert data["problems"][0]["kind"] == "hash" and data["problems"][0]["algorithm"] == "sha256"


def test_compare_is_pure_and_orders_checks(tmp_path):
    task = plan_files([_model()], cache_dir=tmp_path).tasks[1]
    want = hashlib.sha256(WEIGHTS).hexdigest()
    store = os.path.realpath(task.store)
    assert compare(task, Seen(exists=True, link=store, size=len(WEIGHTS), digest=want)) is None
    assert compare(task, Seen(exists=False)).kind == MISSING
    assert compare(task, Seen(exists=True, link="/elsewhere", link_ok=False)).kind == LINK
    assert compare(task, Seen(exists=True, size=1)).kind == SIZE
    assert compare(task, Seen(exists=True, size=len(WEIGHTS), digest="0" * 64)).kind == HASH
    assert compare(task, Seen(exists=True, error="Permission denied")).kind == "unreadable"


def test_verify_parallel_results_keep_plan_order(tmp_path, cache):
    files, contents = [], {}
    for i in range(40):
        data = os.urandom(1000 + i * 997)
        files.append(LockedFile(f"f{i:02d}.bin", len(data), "e" * 40, hashlib.sha256(data).hexdigest()))
        contents[f"f{i:02d}.bin"] = data
    model = LockedModel(id="org/many", commit=C, files=tuple(files))
    _build(tmp_path / "hub", model, contents)
    blobs = tmp_path / "hub" / "models--org--many" / "blobs"
    for i in (3, 17):
        (blobs / files[i].sha256).write_bytes(b"")
    for i in (8, 31, 39):  # same size, other bytes: found only by the hashing threads
        (blobs / files[i].sha256).write_bytes(b"\xff" * files[i].size)
    lock = Lock(manifest_hash="x", models=(model,))
    reports = [verify(lock, cache_dir=tmp_path / "hub", cache=cache, deep=True, jobs=jobs) for jobs in (4, 1)]
    for report in reports:
        assert [(p.path, p.kind) for p in report.problems] == [
            ("f03.bin", SIZE), ("f08.bin", HASH), ("f17.bin", SIZE), ("f31.bin", HASH), ("f39.bin", HASH)]
    assert reports[0].to_dict() == reports[1].to_dict()


def test_a_link_planted_as_the_blobs_folder_is_reported_for_every_file(tmp_path, cache):
    files, contents = [], {}
    for i in range(6):
        data = os.urandom(100 + i)
        files.append(LockedFile(f"f{i}.bin", len(data), "e" * 40, hashlib.sha256(data).hexdigest()))
        contents[f"f{i}.bin"] = data
    model = LockedModel(id="org/six", commit=C, files=tuple(files))
    _build(tmp_path / "hub", model, contents)
    blobs = tmp_path / "hub" / "models--org--six" / "blobs"
    blobs.rename(tmp_path / "elsewhere")
    blobs.symlink_to(tmp_path / "elsewhere")  # the same bytes, reached through a link
    report = verify(Lock(manifest_hash="x", models=(model,)), cache_dir=tmp_path / "hub", cache=cache, jobs=2)
    assert [(p.path, p.kind) for p in report.problems] == [(f"f{i}.bin", "unsafe") for i in range(6)]
    assert all(f"{blobs} is a symbolic link" in p.message for p in report.problems)
    assert report.hashed_bytes == 0


def test_verified_cache_location_is_platformdirs_user_cache(monkeypatch, tmp_path):
    import platformdirs

    from ptmlock.install.hashing import default_cache_path

    for xdg in (str(tmp_path / "xdg"), "", None):
        if xdg is None:
            monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert str(default_cache_path()) == os.path.join(platformdirs.user_cache_dir("ptmlock"), "verified-v1.json")

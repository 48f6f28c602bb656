"""A hostile cache and target folder (issue 11, docs/threat-model.md, row "the cache").

Links planted with `os.symlink` at every path sync writes: the sync must exit 5 naming the
path, leave everything outside the root untouched, and write no file through the link. Then
`sync --target` ownership, and file-system faults (read-only bind mounts, a tiny tmpfs).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest
from lockhelpers import PY, model_entry, read_lock, tiny_repo_files, write_manifest


def _sub(project, *args, env=None):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, check=False, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=180)


def _snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under `root` (links not followed): file bytes, link targets, folders."""
    out: dict[str, bytes | str] = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(base, name)
            if os.path.islink(p):
                out[p] = "-> " + os.readlink(p)
            elif os.path.isfile(p):
                out[p] = Path(p).read_bytes()
            else:
                out[p] = "dir"
    return out


@pytest.fixture
def locked(hub, project, tmp_path):
    """A locked project with org/a (an LFS weight file and small git files), and an outside folder
    holding a victim file that no planted link may change."""
    sha = hub.commit("org/a", tiny_repo_files())
    write_manifest(project, {"org/a": {}})
    r = _sub(project, "lock")
    assert r.returncode == 0, r.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"precious")
    entry = model_entry(read_lock(project), "org/a")
    files = {f["path"]: f.get("sha256") or f["blob"] for f in entry["files"]}
    return {"commit": sha, "files": files, "outside": outside, "cache": tmp_path / "hf-home" / "hub"}


def _assert_refused(r, locked, *fragments, code=5):
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    for fragment in fragments:
        assert fragment in r.stderr, r.stderr
    assert _snapshot(locked["outside"]) == {str(locked["outside"] / "victim"): b"precious"}


def _plant(link: Path, target: Path):
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


# where a link is planted in the hub cache, relative to <cache>/models--org--a (target: file or dir)
CACHE_LINKS = {
    "blobs/<weights>.incomplete": ("file", "blobs/{w}.incomplete"),
    "blobs/<weights>": ("file", "blobs/{w}"),
    "blobs/<config>": ("file", "blobs/{c}"),
    "blobs": ("dir", "blobs"),
    "snapshots/<commit>": ("dir", "snapshots/{commit}"),
    "snapshots": ("dir", "snapshots"),
    "refs": ("dir", "refs"),
    "refs/main": ("file", "refs/main"),
    "the model folder": ("dir", ""),
    ".locks": ("dir", "../.locks"),
    ".locks/<repo>": ("dir", "../.locks/models--org--a"),
    ".locks/<repo>/<weights>.lock": ("file", "../.locks/models--org--a/{w}.lock"),
}


@pytest.mark.parametrize("where", list(CACHE_LINKS))
def test_link_planted_in_the_cache_is_refused_with_exit_5(locked, project, where):
    kind, rel = CACHE_LINKS[where]
    repo = locked["cache"] / "models--org--a"
    link = Path(os.path.normpath(repo / rel.format(w=locked["files"]["model.safetensors"],
                                                    c=locked["files"]["config.json"], commit=locked["commit"])))
    _plant(link, locked["outside"] / "victim" if kind == "file" else locked["outside"])
    r = _sub(project, "sync")
    _assert_refused(r, locked, f"{link} is a symbolic link", "did not write through it")
    assert os.path.islink(link)  # left for the user to inspect; nothing was written through it


def test_offline_sync_and_verify_never_follow_a_planted_folder_link(locked, project):
    link = locked["cache"] / "models--org--a"
    link.parent.mkdir(parents=True)
    os.symlink(locked["outside"], link)
    for verb in (("sync", "--offline"), ("verify",)):
        r = _sub(project, *verb)  # checking only: reported as a problem (exit 1), never followed
        _assert_refused(r, locked, code=1)
        assert f"{link} is a symbolic link; verify does not follow it" in r.stdout, (r.stdout, r.stderr)


def test_the_cache_root_itself_may_be_a_link(locked, project, tmp_path):
    real = tmp_path / "real-cache"
    real.mkdir()
    locked["cache"].parent.mkdir(parents=True, exist_ok=True)
    os.symlink(real, locked["cache"])
    r = _sub(project, "sync")
    assert r.returncode == 0, r.stderr
    assert (real / "models--org--a" / "refs" / "main").read_text() == locked["commit"]


def test_a_snapshot_link_to_the_wrong_place_is_replaced_never_followed(locked, project):
    snap = locked["cache"] / "models--org--a" / "snapshots" / locked["commit"]
    _plant(snap / "config.json", locked["outside"] / "victim")
    r = _sub(project, "sync")
    assert r.returncode == 0, r.stderr
    assert os.readlink(snap / "config.json") == f"../../blobs/{locked['files']['config.json']}"
    assert (locked["outside"] / "victim").read_bytes() == b"precious"
    r = _sub(project, "verify")
    assert r.returncode == 0, r.stderr


def test_verify_reports_a_planted_blob_link_even_when_its_bytes_match(locked, project):
    assert _sub(project, "sync").returncode == 0
    blob = locked["cache"] / "models--org--a" / "blobs" / locked["files"]["config.json"]
    copy = locked["outside"] / "config.json"
    copy.write_bytes(blob.read_bytes())
    blob.unlink()
    os.symlink(copy, blob)
    r = _sub(project, "verify")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"org/a: config.json: {blob} is a symbolic link; verify does not follow it" in r.stdout, r.stderr
    r = _sub(project, "sync")
    assert r.returncode == 5 and f"{blob} is a symbolic link" in r.stderr, r.stderr


TARGET_LINKS = {
    "DIR/org": ("dir", "org"),
    "DIR/org/a (the model folder)": ("dir", "org/a"),
    "DIR/org/a/config.json": ("file", "org/a/config.json"),
    "DIR/org/a/model.safetensors": ("file", "org/a/model.safetensors"),
    "DIR/org/a/.cache": ("dir", "org/a/.cache"),
    "DIR/org/a/.cache/ptmlock": ("dir", "org/a/.cache/ptmlock"),
    "DIR/org/a/.cache/ptmlock/config.json.incomplete": ("file", "org/a/.cache/ptmlock/config.json.incomplete"),
    "DIR/org/a/.cache/ptmlock/config.json.lock": ("file", "org/a/.cache/ptmlock/config.json.lock"),
}


@pytest.mark.parametrize("where", list(TARGET_LINKS))
def test_link_planted_in_a_target_folder_is_refused_with_exit_5(locked, project, tmp_path, where):
    kind, rel = TARGET_LINKS[where]
    target = tmp_path / "out"
    target.mkdir()
    link = target / rel
    _plant(link, locked["outside"] / "victim" if kind == "file" else locked["outside"])
    r = _sub(project, "sync", "--target", str(target))
    _assert_refused(r, locked, f"{link} is a symbolic link")
    r = _sub(project, "verify", "--target", str(target))
    assert r.returncode in (1, 5) and "Traceback" not in r.stderr, r.stderr
    assert _snapshot(locked["outside"]) == {str(locked["outside"] / "victim"): b"precious"}


def test_link_planted_at_the_ownership_record_is_refused(locked, project, tmp_path):
    target = tmp_path / "out"
    assert _sub(project, "sync", "--target", str(target)).returncode == 0
    record = target / "org" / "a" / ".cache" / "ptmlock" / "written.json"
    record.unlink()
    os.symlink(locked["outside"] / "victim", record)
    r = _sub(project, "sync", "--target", str(target))
    _assert_refused(r, locked, f"{record} is a symbolic link")


# --- sync --target ownership ---------------------------------------------------------------------------


def test_target_refuses_to_overwrite_a_file_it_did_not_write(locked, project, tmp_path):
    target = tmp_path / "out"
    mine = target / "org" / "a" / "config.json"
    mine.parent.mkdir(parents=True)
    mine.write_text('{"my": "own config"}')
    r = _sub(project, "sync", "--target", str(target))
    assert r.returncode == 1, r.stderr
    assert f"org/a: {mine}: not written by ptmlock" in r.stderr and "--force" in r.stderr, r.stderr
    assert mine.read_text() == '{"my": "own config"}'
    assert not (target / "org" / "a" / "model.safetensors").exists()  # nothing was written
    r = _sub(project, "sync", "--target", str(target), "--force")
    assert r.returncode == 0, r.stderr
    assert f"org/a: {mine}: not written by ptmlock: replaced (--force)" in r.stderr, r.stderr
    assert mine.read_bytes() == tiny_repo_files()["config.json"]


def test_target_refuses_to_overwrite_a_file_edited_since_it_wrote_it(locked, project, tmp_path, hub):
    target = tmp_path / "out"
    assert _sub(project, "sync", "--target", str(target)).returncode == 0
    config = target / "org" / "a" / "config.json"
    config.write_text('{"edited": true}')
    r = _sub(project, "sync", "--target", str(target))
    assert r.returncode == 1 and f"org/a: {config}: changed since ptmlock wrote it" in r.stderr, r.stderr
    assert config.read_text() == '{"edited": true}'


def test_target_overwrites_its_own_unchanged_files_when_the_pin_moves(locked, project, tmp_path, hub):
    target = tmp_path / "out"
    assert _sub(project, "sync", "--target", str(target)).returncode == 0
    hub.commit("org/a", tiny_repo_files("v2"))
    assert _sub(project, "lock", "--upgrade").returncode == 0
    r = _sub(project, "sync", "--target", str(target))
    assert r.returncode == 0, r.stderr
    assert (target / "org" / "a" / "config.json").read_bytes() == tiny_repo_files("v2")["config.json"]
    assert _sub(project, "verify", "--target", str(target)).returncode == 0


def test_target_file_already_holding_the_locked_bytes_is_no_conflict(locked, project, tmp_path):
    target = tmp_path / "out"
    same = target / "org" / "a" / "config.json"
    same.parent.mkdir(parents=True)
    same.write_bytes(tiny_repo_files()["config.json"])
    r = _sub(project, "sync", "--target", str(target))
    assert r.returncode == 0, r.stderr


# --- file-system faults ---------------------------------------------------------------------------------


def _mount(*args):
    return subprocess.run(["mount", *args], check=False, capture_output=True, text=True)


@pytest.fixture
def mounts():
    """Mount helper: `mounts.tmpfs(dir, size)`, `mounts.readonly(src, dst)`; unmounted after the test."""
    done: list[Path] = []

    class Mounts:
        def tmpfs(self, where: Path, size: str) -> Path:
            where.mkdir(parents=True, exist_ok=True)
            r = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where))
            if r.returncode != 0:
                pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {r.stderr.strip()}")
            done.append(where)
            return where

        def readonly(self, src: Path, dst: Path) -> Path:
            dst.mkdir(parents=True, exist_ok=True)
            r = _mount("--bind", str(src), str(dst))
            if r.returncode != 0:
                pytest.skip(f"cannot bind-mount here (needs root and CAP_SYS_ADMIN): {r.stderr.strip()}")
            done.append(dst)
            r = _mount("-o", "remount,bind,ro", str(dst))
            assert r.returncode == 0, r.stderr
            return dst

    yield Mounts()
    for where in reversed(done):
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def test_lock_on_a_read_only_project_is_one_message_and_the_old_lock_survives(locked, project, tmp_path, hub,
                                                                              mounts):
    old = (project / "ptm.lock").read_bytes()
    hub.commit("org/b", tiny_repo_files())
    write_manifest(project, {"org/a": {}, "org/b": {}})
    ro = mounts.readonly(project, tmp_path / "ro-project")
    r = _sub(ro, "lock")
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == f"error: Cannot write {ro / 'ptm.lock'}: the file system is read-only. The old file " \
                               "is unchanged. Make the folder writable (or free some space), then run the command again.", r.stderr
    assert (project / "ptm.lock").read_bytes() == old
    r = _sub(ro, "add", "org/b@main")
    assert r.returncode == 1 and "the file system is read-only" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_lock_on_a_full_disk_is_one_message_and_leaves_nothing(hub, tmp_path, mounts):
    for i in range(8):
        hub.commit(f"org/m{i}", tiny_repo_files(str(i)))
    disk = mounts.tmpfs(tmp_path / "tiny", "64k")
    write_manifest(disk, {f"org/m{i}": {} for i in range(8)})
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last byte
        for size in (4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)
    r = _sub(disk, "lock")
    assert r.returncode == 1, r.stderr
    assert "Cannot write" in r.stderr and "the disk is full" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "ptm.toml"]


def test_sync_into_a_full_cache_is_one_clear_error_and_nothing_is_visible(hub, project, tmp_path, mounts):
    big = {"config.json": b"{}", "weights.bin": os.urandom(200_000)}
    hub.commit("org/big", big)
    write_manifest(project, {"org/big": {}})
    assert _sub(project, "lock").returncode == 0
    cache = mounts.tmpfs(tmp_path / "tiny-cache", "64k")
    r = _sub(project, "sync", env={"HF_HUB_CACHE": str(cache)})
    assert r.returncode == 1, r.stderr
    assert "org/big: cannot write weights.bin" in r.stderr and "No space left on device" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    snap = cache / "models--org--big" / "snapshots"
    assert not any(p.name == "weights.bin" for p in snap.rglob("*"))  # never visible half-written


def test_sync_into_a_read_only_cache_is_one_clear_error(locked, project, tmp_path, mounts):
    src = tmp_path / "cache-src"
    src.mkdir()
    cache = mounts.readonly(src, tmp_path / "ro-cache")
    r = _sub(project, "sync", env={"HF_HUB_CACHE": str(cache)})
    assert r.returncode == 1, r.stderr
    assert "Read-only file system" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert list(src.iterdir()) == []


# --- a lock write killed half-way ---------------------------------------------------------------------------


KILL_DURING_WRITE = textwrap.dedent("""
    import os, signal, sys
    from ptmlock import _fs
    real_fsync = os.fsync
    def die(fd):  # the temporary file is written, not yet renamed: the worst moment to die
        os.kill(os.getpid(), signal.SIGKILL)
    os.fsync = die
    from ptmlock.cli import main
    sys.exit(main(["lock", "--upgrade"]))
""")


def test_a_lock_write_killed_with_sigkill_leaves_nothing_git_add_stages_after_the_next_run(locked, project, hub):
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    old = (project / "ptm.lock").read_bytes()
    hub.commit("org/a", tiny_repo_files("v2"))
    r = subprocess.run([PY, "-c", KILL_DURING_WRITE], cwd=project, check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert (project / "ptm.lock").read_bytes() == old  # the old lock, whole
    leftovers = sorted(p.name for p in project.glob(".ptm.lock.*.tmp"))
    assert len(leftovers) == 1  # what a kill -9 leaves, until the next run
    r = _sub(project, "lock")
    assert r.returncode == 0, r.stderr
    assert list(project.glob(".ptm.lock.*.tmp")) == []
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=project, capture_output=True, text=True,
                            check=True).stdout.split()
    assert all(not name.startswith(".ptm.") for name in staged), staged


# --- torch.hub's layout (url and torchhub models) --------------------------------------------------------


@pytest.fixture
def url_locked(hub, project, tmp_path, monkeypatch):
    """A project locking one url model (served by the local hub), with TORCH_HOME under tmp_path."""
    hub.commit("org/w", {"weights.pth": b"w" * 1000})
    url = f"{hub.endpoint}/org/w/resolve/main/weights.pth"
    write_manifest(project, {url: {"hub": "url"}})
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    r = _sub(project, "lock")
    assert r.returncode == 0, r.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"precious")
    return {"outside": outside, "hub_dir": tmp_path / "torch" / "hub"}


@pytest.mark.parametrize("rel, kind", [("checkpoints", "dir"), ("checkpoints/weights.pth", "file")])
def test_link_planted_in_torch_hub_dir_is_refused_with_exit_5(url_locked, project, rel, kind):
    link = url_locked["hub_dir"] / rel
    shutil.rmtree(url_locked["hub_dir"], ignore_errors=True)  # lock may have put the checkpoint there already
    _plant(link, url_locked["outside"] / ("victim" if kind == "file" else ""))
    r = _sub(project, "sync")
    _assert_refused(r, url_locked, f"{link} is a symbolic link")
    r = _sub(project, "sync", "--offline")
    assert r.returncode == 5 and "Traceback" not in r.stderr, r.stderr


def test_linked_torchhub_checkout_folder_is_refused_not_trusted(tmp_path):
    from ptmlock.errors import UnsafePathError
    from ptmlock.install.torch_cache import sync_torch
    from ptmlock.lockfile.model import LockedModel

    model = LockedModel(id="owner/repo:main", hub="torchhub", commit="a" * 40, requested="main")
    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "hubconf.py").write_text("import os; os.system('echo pwned')\n")
    os.symlink(evil, hub_dir / f"owner_repo_{'a' * 40}")
    for offline in (True, False):  # torch would import hubconf.py from wherever the link points
        (outcome,) = sync_torch([model], hub_dir=hub_dir, offline=offline).outcomes
        assert outcome.action == "failed" and isinstance(outcome.error, UnsafePathError)
        assert f"owner_repo_{'a' * 40} is a symbolic link" in str(outcome.error)


def test_lock_of_a_url_model_never_writes_through_a_linked_checkpoints_folder(hub, project, tmp_path, monkeypatch):
    hub.commit("org/w", {"weights.pth": b"w" * 1000})
    url = f"{hub.endpoint}/org/w/resolve/main/weights.pth"
    write_manifest(project, {url: {"hub": "url"}})
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    outside = tmp_path / "outside"
    outside.mkdir()
    _plant(tmp_path / "torch" / "hub" / "checkpoints", outside)
    r = _sub(project, "lock")
    assert r.returncode == 5 and f"{tmp_path / 'torch' / 'hub' / 'checkpoints'} is a symbolic link" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and list(outside.iterdir()) == [], r.stderr
    assert not (project / "ptm.lock").exists()


def _sub_as_plain_user(project, *args, env=None):
    """Run the CLI as root without CAP_DAC_OVERRIDE, so file permissions apply (EACCES) as for a user."""
    import shlex

    if shutil.which("capsh") is None:
        pytest.skip("capsh is not installed: cannot drop CAP_DAC_OVERRIDE to provoke EACCES as root")
    cmd = " ".join(shlex.quote(a) for a in (PY, "-m", "ptmlock", *args))
    return subprocess.run(["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", f"exec {cmd}"],
                          cwd=project, check=False, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=180)


def test_lock_without_permission_is_one_message_and_the_old_lock_survives(locked, project, hub):
    old = (project / "ptm.lock").read_bytes()
    hub.commit("org/b", tiny_repo_files())
    write_manifest(project, {"org/a": {}, "org/b": {}})
    project.chmod(0o555)
    try:
        r = _sub_as_plain_user(project, "lock")
    finally:
        project.chmod(0o755)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().startswith(f"error: Cannot write {project / 'ptm.lock'}: permission denied."), r.stderr
    assert "Traceback" not in r.stderr and (project / "ptm.lock").read_bytes() == old, r.stderr
    assert sorted(p.name for p in project.iterdir()) == ["ptm.lock", "ptm.toml"]  # no temporary file left


def test_sync_into_a_cache_without_permission_is_one_clear_error(locked, project, tmp_path):
    cache = tmp_path / "locked-cache"
    cache.mkdir(mode=0o555)
    cache.chmod(0o555)
    r = _sub_as_plain_user(project, "sync", env={"HF_HUB_CACHE": str(cache)})
    assert r.returncode == 1, r.stderr
    assert "Permission denied" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("path", [".git/config", "sub/.GIT/hooks/post-checkout", ".cache/ptmlock/written.json",
                                  "a\x1bb"])
def test_a_lock_naming_an_unsafe_file_path_is_refused_before_anything_is_written(locked, project, tmp_path, path):
    lock = project / "ptm.lock"
    text = lock.read_text()
    assert 'path = "config.json"' in text
    lock.write_text(text.replace('path = "config.json"', f"path = {json.dumps(path)}"))
    target = tmp_path / "out"
    for args in (("sync",), ("sync", "--target", str(target))):
        r = _sub(project, *args)
        assert r.returncode == 3, r.stderr
        assert "Traceback" not in r.stderr and "Invalid value in 'model[0].files[" in r.stderr and ".path'" in r.stderr, r.stderr
    assert not target.exists() and not (locked["cache"] / "models--org--a").exists()

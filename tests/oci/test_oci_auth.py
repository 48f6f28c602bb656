"""Registry auth the way registries do it: HTTP basic (htpasswd), bearer-token challenges, Docker
config and environment credentials; refusals are exit 4; credentials are never written or printed."""
from __future__ import annotations

import base64
import json
import shutil
import time

import pytest
from conftest import need_registry
from lockhelpers import tiny_repo_files
from ocihelpers import locked_project, new_cache
from tokenserver import ISSUER, SERVICE, TokenServer

from ptmlock.testing.oci_registry import OciRegistry, TokenAuth

USER, PASSWORD = "alice", "s3cret-pw-7781"


@pytest.fixture
def basic_registry(tmp_path):
    need_registry()
    if shutil.which("htpasswd") is None:
        pytest.skip("htpasswd is not installed: `apt-get install -y apache2-utils`")
    with OciRegistry(tmp_path / "registry", htpasswd=(USER, PASSWORD)) as reg:
        yield reg


@pytest.fixture
def token_registry(tmp_path):
    need_registry()
    with TokenServer(USER, PASSWORD) as tokens, OciRegistry(
            tmp_path / "registry", token=TokenAuth(tokens.realm, SERVICE, ISSUER, tokens.cert_pem)) as reg:
        reg.tokens = tokens
        yield reg


def _docker_login(tmp_path, host, user=USER, password=PASSWORD, key=None):
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    folder = tmp_path / "docker-config"  # DOCKER_CONFIG, per conftest
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"auths": {key or host: {"auth": auth}}}))


def _no_secret_anywhere(project, *results):
    for r in results:
        assert PASSWORD not in r.out + r.err
        assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in r.out + r.err
    for name in ("ptm.toml", "ptm.lock"):
        assert PASSWORD not in (project / name).read_text()


def test_basic_auth_registry_refuses_anonymous_publish_with_exit_4_and_a_fix(hub, basic_registry, project, ptm):
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()})
    started = time.monotonic()
    r = ptm("publish", f"oci+http://{basic_registry.host}/models")
    assert r.code == 4, r.err
    assert time.monotonic() - started < 10  # a refusal is not retried
    assert "refused" in r.err and "HTTP 401" in r.err and "(anonymous)" in r.err and "docker login" in r.err
    assert "Traceback" not in r.err


def test_basic_auth_with_docker_config_publishes_and_syncs_without_leaking_the_password(
        hub, basic_registry, project, ptm, tmp_path, monkeypatch):
    url = f"oci+http://{basic_registry.host}/models"
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()}, sources=[("fleet", url)])
    _docker_login(tmp_path, basic_registry.host, key=f"http://{basic_registry.host}/v1/")
    published = ptm("publish", url)
    assert published.code == 0, published.err
    hub.stop()
    new_cache(tmp_path, monkeypatch, "node")
    synced = ptm("sync")
    assert synced.code == 0, synced.err
    assert ptm("verify", "--deep").code == 0
    _no_secret_anywhere(project, published, synced)


def test_wrong_password_from_env_is_exit_4_naming_the_origin_not_the_secret(
        hub, basic_registry, project, ptm, tmp_path, monkeypatch):
    url = f"oci+http://{basic_registry.host}/models"
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()}, sources=[("fleet", url)])
    _docker_login(tmp_path, basic_registry.host)  # the environment wins over the Docker config
    monkeypatch.setenv("PTMLOCK_OCI_HOSTS", basic_registry.host)  # the environment's credentials go there only
    monkeypatch.setenv("PTMLOCK_OCI_USERNAME", USER)
    monkeypatch.setenv("PTMLOCK_OCI_PASSWORD", "not-the-password")
    r = ptm("publish", url)
    assert r.code == 4
    assert "PTMLOCK_OCI_USERNAME/PTMLOCK_OCI_PASSWORD" in r.err and "not-the-password" not in r.err
    new_cache(tmp_path, monkeypatch, "node")
    r = ptm("sync", "--source", "fleet")
    assert r.code == 4, r.err
    assert "refused" in r.err and "not-the-password" not in r.err


def test_half_set_environment_credentials_are_an_error_not_ignored(hub, basic_registry, project, ptm, monkeypatch):
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()})
    monkeypatch.setenv("PTMLOCK_OCI_USERNAME", USER)
    r = ptm("publish", f"oci+http://{basic_registry.host}/models")
    assert r.code == 4 and "PTMLOCK_OCI_PASSWORD is not set" in r.err


def test_malformed_docker_config_is_a_clear_error(hub, basic_registry, project, ptm, tmp_path):
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()})
    (tmp_path / "docker-config").mkdir()
    (tmp_path / "docker-config" / "config.json").write_text("{not json")
    r = ptm("publish", f"oci+http://{basic_registry.host}/models")
    assert r.code == 4 and "cannot read the Docker config" in r.err and "Traceback" not in r.err


def test_bearer_token_challenge_gets_a_token_with_basic_creds_and_round_trips(
        hub, token_registry, project, ptm, tmp_path, monkeypatch):
    url = f"oci+http://{token_registry.host}/models"
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()}, sources=[("fleet", url)])
    monkeypatch.setenv("PTMLOCK_OCI_HOSTS", token_registry.host)
    monkeypatch.setenv("PTMLOCK_OCI_USERNAME", USER)
    monkeypatch.setenv("PTMLOCK_OCI_PASSWORD", PASSWORD)
    published = ptm("publish", url)
    assert published.code == 0, published.err
    scopes = {scope for scope, user in token_registry.tokens.requests if user == USER}
    assert "repository:models/org/tiny:pull,push" in scopes
    hub.stop()
    new_cache(tmp_path, monkeypatch, "node")
    synced = ptm("sync", "--source", "fleet")
    assert synced.code == 0, synced.err
    assert "repository:models/org/tiny:pull" in {s for s, _ in token_registry.tokens.requests}
    assert ptm("verify", "--deep").code == 0
    _no_secret_anywhere(project, published, synced)


def test_bearer_token_server_refusing_is_exit_4(hub, token_registry, project, ptm, monkeypatch):
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()})
    monkeypatch.setenv("PTMLOCK_OCI_HOSTS", token_registry.host)
    monkeypatch.setenv("PTMLOCK_OCI_USERNAME", USER)
    monkeypatch.setenv("PTMLOCK_OCI_PASSWORD", "wrong")
    r = ptm("publish", f"oci+http://{token_registry.host}/models")
    assert r.code == 4
    assert "token server" in r.err and "refused" in r.err


def test_docker_credential_helper_supplies_the_password(hub, basic_registry, project, ptm, tmp_path, monkeypatch):
    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "docker-credential-ptmtest"
    helper.write_text("#!/bin/sh\nread host\n"
                      f"[ \"$host\" = \"{basic_registry.host}\" ] || exit 1\n"
                      f"echo '{{\"ServerURL\": \"'$host'\", \"Username\": \"{USER}\", \"Secret\": \"{PASSWORD}\"}}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper_dir}:{__import__('os').environ['PATH']}")
    (tmp_path / "docker-config").mkdir()
    (tmp_path / "docker-config" / "config.json").write_text(
        json.dumps({"credHelpers": {basic_registry.host: "ptmtest"}}))
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()})
    r = ptm("publish", f"oci+http://{basic_registry.host}/models")
    assert r.code == 0, r.err
    _no_secret_anywhere(project, r)


def test_ready_bearer_token_from_env_is_used_as_is(hub, token_registry, project, ptm, tmp_path, monkeypatch):
    url = f"oci+http://{token_registry.host}/models"
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()}, sources=[("fleet", url)])
    token = token_registry.tokens.token("repository:models/org/tiny:pull,push", USER)
    monkeypatch.setenv("PTMLOCK_OCI_HOSTS", token_registry.host)
    monkeypatch.setenv("PTMLOCK_OCI_TOKEN", token)
    published = ptm("publish", url)
    assert published.code == 0, published.err
    new_cache(tmp_path, monkeypatch, "node")
    synced = ptm("sync", "--source", "fleet")
    assert synced.code == 0, synced.err
    assert token_registry.tokens.requests == []  # the token server was never asked
    assert token not in published.out + published.err + synced.out + synced.err


def test_plain_http_to_another_host_is_refused_unless_insecure(project, ptm):
    r = ptm("publish", "oci+http://192.0.2.10:5000/models")
    assert r.code == 2 and "would send models and credentials over plain HTTP to 192.0.2.10:5000" in r.err

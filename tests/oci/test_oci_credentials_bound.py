"""Registry credentials are bound to hosts (issue 22, item 3), against registries and token
servers of the tests' own on loopback addresses (`hostile.HostileServer`):

- the environment's credentials go only to the hosts `PTMLOCK_OCI_HOSTS` lists, never to a
  registry a pull request adds to ptm.toml; a `[[source]]` may name its own `PTMLOCK_OCI_*`
  variables (`credentials-env`);
- no credential over plain HTTP to a machine other than this one, whatever `insecure` says
  (refused before anything is sent: the test host `example.invalid` cannot even resolve);
- no credential to a token realm or a redirect on another host (127.0.0.2 is another host
  than 127.0.0.1, both loopback);
- no secret in any message.
"""
from __future__ import annotations

import base64
import time

import pytest
from hostile import HostileServer, Reply
from lockhelpers import tiny_repo_files, write_manifest
from ocihelpers import locked_project, new_cache

USER, PASSWORD, TOKEN = "ci-bot", "s3cret-ci-pw-5521", "tok-9f8e7d6c5b4a"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _basic_only(request):
    """A registry that wants Basic credentials for everything, and has nothing."""
    if request.headers.get("authorization") == BASIC:
        return Reply(404, body=b'{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "no"}]}')
    return Reply(401, headers={"WWW-Authenticate": 'Basic realm="hostile"'})


def _bearer_only(request):
    """A registry that is its own token service: anonymous tokens get nowhere, the CI token would."""
    if request.path.startswith("/token"):
        return Reply(200, body=b'{"token": "anonymous-token"}')
    if request.headers.get("authorization") == f"Bearer {TOKEN}":
        return Reply(404)
    return Reply(401, headers={"WWW-Authenticate": f'Bearer realm="http://{request.headers["host"]}/token",service="s"'})


def _secrets_sent(server):
    return [a for a in server.authorizations() if TOKEN in a or a == BASIC]


def _one_line(r):
    """The failure is said in lines of their own: no traceback, no message over several lines
    (sync repeats the cause per file and sums up; publish says it once), never "free some space"."""
    assert "Traceback" not in r.err + r.out, r.err
    assert "free some space" not in r.err and "internal error" not in r.err, r.err
    assert any(line.startswith("error: ") for line in r.err.splitlines()), r.err
    for line in r.err.splitlines():
        assert line.startswith(("error: ", "warning: ", "  failed (", "Synced ")), r.err


def _no_secret(r):
    for secret in (PASSWORD, TOKEN, BASIC.split()[1]):
        assert secret not in r.out + r.err


def _project(hub, project, ptm, url, extra=""):
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()})
    write_manifest(project, {"org/tiny": {}}, extra=f'\n[[source]]\nname = "evil"\nurl = "{url}"\n{extra}')


@pytest.mark.parametrize(("answer", "env"), [
    (_basic_only, {"PTMLOCK_OCI_USERNAME": USER, "PTMLOCK_OCI_PASSWORD": PASSWORD}),
    (_bearer_only, {"PTMLOCK_OCI_TOKEN": TOKEN}),
], ids=["password", "token"])
def test_env_credentials_never_reach_a_registry_the_manifest_adds(hub, project, ptm, tmp_path, monkeypatch,
                                                                  answer, env):
    with HostileServer(answer) as evil:
        _project(hub, project, ptm, f"oci+http://{evil.host}/models")
        new_cache(tmp_path, monkeypatch, "node")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for hosts in (None, "registry.internal:5000, 127.0.0.1:1"):  # unset; set to other hosts (other port)
            if hosts is not None:
                monkeypatch.setenv("PTMLOCK_OCI_HOSTS", hosts)
            r = ptm("sync", "--source", "evil")
            assert r.code == 4, r.err
            _one_line(r)
            _no_secret(r)
            assert "(anonymous;" in r.err and "not sent here" in r.err and "PTMLOCK_OCI_HOSTS" in r.err, r.err
            assert _secrets_sent(evil) == []
        # listed: the same registry gets them (so the refusal above was the binding, not a failure)
        monkeypatch.setenv("PTMLOCK_OCI_HOSTS", f"registry.internal:5000,{evil.host}")
        r = ptm("sync", "--source", "evil")
        assert _secrets_sent(evil), r.err
        _no_secret(r)

def _sync_with_basic_credentials(hub, project, ptm, tmp_path, monkeypatch, evil):
    """`sync --source evil` of a fresh cache, with Basic credentials bound to `evil`'s host."""
    _project(hub, project, ptm, f"oci+http://{evil.host}/models")
    new_cache(tmp_path, monkeypatch, "node")
    monkeypatch.setenv("PTMLOCK_OCI_HOSTS", evil.host)
    monkeypatch.setenv("PTMLOCK_OCI_USERNAME", USER)
    monkeypatch.setenv("PTMLOCK_OCI_PASSWORD", PASSWORD)
    return ptm("sync", "--source", "evil")



def test_a_sources_own_credentials_env_goes_to_that_source_only(hub, project, ptm, tmp_path, monkeypatch):
    with HostileServer(_basic_only) as evil, HostileServer(_basic_only) as other:
        _project(hub, project, ptm, f"oci+http://{evil.host}/models",
                 'credentials-env = { username = "PTMLOCK_OCI_EVIL_USER", password = "PTMLOCK_OCI_EVIL_PASSWORD" }\n'
                 f'\n[[source]]\nname = "other"\nurl = "oci+http://{other.host}/models"\n')
        new_cache(tmp_path, monkeypatch, "node")
        monkeypatch.setenv("PTMLOCK_OCI_EVIL_USER", USER)
        monkeypatch.setenv("PTMLOCK_OCI_EVIL_PASSWORD", PASSWORD)
        r = ptm("sync")
        assert r.code == 4, r.err
        assert evil.authorizations() and set(evil.authorizations()) == {BASIC}
        assert other.authorizations() == []  # the variables go to the source that names them only
        _no_secret(r)
        # PTMLOCK_OCI_HOSTS, when set, binds these too
        evil.requests.clear()
        monkeypatch.setenv("PTMLOCK_OCI_HOSTS", other.host)
        r = ptm("sync", "--source", "evil")
        assert r.code == 4 and evil.authorizations() == [], r.err
        assert "PTMLOCK_OCI_EVIL_PASSWORD/PTMLOCK_OCI_EVIL_USER are set but not sent here" in r.err


@pytest.mark.parametrize(("table", "fragment"), [
    ('{ token = "HF_TOKEN" }', "must name an environment variable PTMLOCK_OCI_<NAME>"),
    ('{ token = "PTMLOCK_OCI_TOKEN" }', "other than PTMLOCK_OCI_USERNAME"),
    ('{ username = "PTMLOCK_OCI_A" }', "either `token`, or `username` and `password`"),
    ('"PTMLOCK_OCI_A"', "`credentials-env` must be a table"),
])
def test_credentials_env_naming_other_secrets_is_exit_3_with_file_line_col(project, ptm, table, fragment):
    write_manifest(project, {}, extra=f'\n[[source]]\nname = "r"\nurl = "oci://r.example/models"\n'
                                      f"credentials-env = {table}\n")
    r = ptm("lock")
    assert r.code == 3, r.err
    assert f"{project}/ptm.toml:7:1: " in r.err and fragment in r.err, r.err


@pytest.mark.parametrize("kind", ["token", "password", "credentials-env"])
def test_no_credential_over_plain_http_off_loopback_even_insecure_refused_before_sending(
        hub, project, ptm, tmp_path, monkeypatch, kind):
    host = "example.invalid:5000"  # cannot resolve: any attempt to send would be "did not answer"
    extra = "insecure = true\n"
    monkeypatch.setenv("PTMLOCK_OCI_HOSTS", host)
    if kind == "token":
        monkeypatch.setenv("PTMLOCK_OCI_TOKEN", TOKEN)
    elif kind == "password":
        monkeypatch.setenv("PTMLOCK_OCI_USERNAME", USER)
        monkeypatch.setenv("PTMLOCK_OCI_PASSWORD", PASSWORD)
    else:
        extra += 'credentials-env = { token = "PTMLOCK_OCI_FLEET_TOKEN" }\n'
        monkeypatch.setenv("PTMLOCK_OCI_FLEET_TOKEN", TOKEN)
    _project(hub, project, ptm, f"oci+http://{host}/models", extra)
    new_cache(tmp_path, monkeypatch, "node")
    started = time.monotonic()
    r = ptm("sync", "--source", "evil")
    assert r.code == 4, r.err
    _one_line(r)
    _no_secret(r)
    assert "never sends credentials over plain HTTP off this machine" in r.err, r.err
    assert "did not answer" not in r.err  # refused before any connection was tried
    assert time.monotonic() - started < 3
    if kind == "credentials-env":
        return  # a [[source]]'s own variables are not used by publish, which names no source
    r = ptm("publish", "--insecure", f"oci+http://{host}/models")
    assert r.code == 4 and "never sends credentials over plain HTTP" in r.err, r.err


def test_no_credential_to_a_token_realm_on_another_host(hub, project, ptm, tmp_path, monkeypatch):
    with HostileServer(lambda q: Reply(200, body=b'{"token": "x"}'), host="127.0.0.2") as realm:
        def registry(request):
            return Reply(401, headers={"WWW-Authenticate": f'Bearer realm="{realm.base}/token",service="s"'})

        with HostileServer(registry) as evil:
            r = _sync_with_basic_credentials(hub, project, ptm, tmp_path, monkeypatch, evil)
            assert r.code == 5, r.err
            _one_line(r)
            assert "is another host than the registry" in r.err and "ptmlock sends no credentials there" in r.err
            assert realm.requests == []
            # listed, the realm is the registry's own token service
            monkeypatch.setenv("PTMLOCK_OCI_HOSTS", f"{evil.host} 127.0.0.2")
            ptm("sync", "--source", "evil")
            assert set(realm.authorizations()) == {BASIC}


def test_credentials_do_not_follow_a_redirect_to_another_host_nor_its_challenge(hub, project, ptm, tmp_path,
                                                                                monkeypatch):
    def cdn(request):  # another host, which asks whoever comes for credentials, for its own realm
        return Reply(401, headers={"WWW-Authenticate": f'Bearer realm="{elsewhere.base}/token",service="s"'})

    with HostileServer(cdn, host="127.0.0.2") as elsewhere:
        def registry(request):
            if request.headers.get("authorization") != BASIC:
                return Reply(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
            return Reply(307, headers={"Location": f"{elsewhere.base}{request.path}"})

        with HostileServer(registry) as evil:
            r = _sync_with_basic_credentials(hub, project, ptm, tmp_path, monkeypatch, evil)
            assert r.code == 4, r.err
            _one_line(r)
            assert evil.authorizations(), "the registry itself gets them"
            assert elsewhere.requests, "the redirect was followed"
            assert elsewhere.authorizations() == []
            assert "answered by 127.0.0.2" in r.err, r.err


def test_credentials_in_a_registry_url_are_never_printed(project, ptm):
    for url in ("oci://user:pa/ss@r.example/models", "oci://user:pa/ss@host:port/models",
                "oci+http://us:pw-7731@[::1/models"):
        r = ptm("publish", url)
        assert r.code == 2, r.err
        assert "pa/ss" not in r.err and "pw-7731" not in r.err and "credentials do not belong" in r.err, r.err
        write_manifest(project, {}, extra=f'\n[[source]]\nname = "r"\nurl = "{url}"\n')
        r = ptm("lock")
        assert r.code == 3, r.err
        assert "pa/ss" not in r.err and "pw-7731" not in r.err and "credentials do not belong" in r.err, r.err


def test_a_token_with_a_newline_in_the_environment_is_one_clear_line(hub, project, ptm, tmp_path, monkeypatch):
    with HostileServer(_bearer_only) as evil:
        _project(hub, project, ptm, f"oci+http://{evil.host}/models")
        new_cache(tmp_path, monkeypatch, "node")
        monkeypatch.setenv("PTMLOCK_OCI_HOSTS", evil.host)
        monkeypatch.setenv("PTMLOCK_OCI_TOKEN", TOKEN + "\r\nX-Injected: 1")
        r = ptm("sync", "--source", "evil")
        assert r.code == 4, r.err
        _one_line(r)
        assert "PTMLOCK_OCI_TOKEN holds a character no token has" in r.err
        assert not any("x-injected" in q.headers for q in evil.requests)


def test_a_malformed_hosts_list_is_an_error_not_ignored(hub, project, ptm, tmp_path, monkeypatch):
    with HostileServer(_basic_only) as evil:
        _project(hub, project, ptm, f"oci+http://{evil.host}/models")
        new_cache(tmp_path, monkeypatch, "node")
        monkeypatch.setenv("PTMLOCK_OCI_USERNAME", USER)
        monkeypatch.setenv("PTMLOCK_OCI_PASSWORD", PASSWORD)
        for bad in (f"http://{evil.host}/v2", "registry:port", "[::1", "*.corp.example"):
            monkeypatch.setenv("PTMLOCK_OCI_HOSTS", bad)
            r = ptm("sync", "--source", "evil")
            assert r.code == 2, r.err
            _one_line(r)
            assert "PTMLOCK_OCI_HOSTS lists" in r.err and "which is not a registry host" in r.err, r.err
            r = ptm("publish", f"oci+http://{evil.host}/models")
            assert r.code == 2 and "PTMLOCK_OCI_HOSTS lists" in r.err, r.err
        assert evil.authorizations() == []

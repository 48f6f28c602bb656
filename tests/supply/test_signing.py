"""Model signatures (issue 16), end to end: real model-signing bundles made with local keys and a
self-made certificate chain, committed to the local hub, checked by the real CLI."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lockhelpers import model_entry, read_lock
from signhelpers import sign_with_certificate, sign_with_key, write_chain, write_key


FILES = {
    "config.json": b'{"hidden_size": 4, "model_type": "bert"}',
    "tokenizer.json": b'{"version": "1.0"}',
    "model.safetensors": b"\x00weights-v1" * 4096,  # LFS (the hub's default .gitattributes)
}

MANIFEST = """[project]
name = "app"

[signing]
{signer}

[models."acme/ft"]
{extra}
"""


@pytest.fixture
def keys(project):
    """keys/acme.pem (the declared signer) and an unrelated key pair; the private keys stay outside."""
    folder = project.parent / "private"
    folder.mkdir()
    (project / "keys").mkdir()
    acme_private, acme_public = write_key(folder, "acme")
    other_private, _ = write_key(folder, "other")
    (project / "keys" / "acme.pem").write_bytes(acme_public.read_bytes())
    return {"acme": acme_private, "other": other_private, "work": folder}


def publish(hub, keys, files=FILES, *, key="acme", signed_files=None, repo="acme/ft", sig=None) -> str:
    """Commit `files` and a model.sig over `signed_files` (default: the same files) signed by `key`."""
    work = keys["work"] / f"sign-{len(list(keys['work'].iterdir()))}"
    bundle = sig if sig is not None else sign_with_key(work, signed_files or files, keys[key])
    return hub.commit(repo, {**files, "model.sig": bundle})


def manifest(project, signer='public-key = "keys/acme.pem"', extra=""):
    (project / "ptm.toml").write_text(MANIFEST.format(signer=signer, extra=extra))


def assert_refused(result, *fragments, lock_before=None):
    """Exit 5, one line naming `fragments`, and ptm.lock untouched (absent, or still `lock_before`)."""
    assert result.code == 5, (result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    lock = Path.cwd() / "ptm.lock"
    assert (lock.read_text() if lock.exists() else None) == lock_before


def test_lock_records_the_signer_of_a_valid_signature(hub, keys, project, ptm):
    commit = publish(hub, keys)
    manifest(project)
    r = ptm("lock")
    assert r.code == 0, r.err
    entry = model_entry(read_lock(project), "acme/ft")  # validated against the JSON schema
    assert entry["commit"] == commit
    sig = entry["signature"]
    assert sig["path"] == "model.sig"
    assert sig["signer"].startswith("public-key sha256:") and len(sig["signer"]) == len("public-key sha256:") + 64
    blob = next(f for f in entry["files"] if f["path"] == "model.sig")
    data = hub.blob(hub.lookup("model", "acme/ft")[0], blob["blob"])
    assert sig["sha256"] == hashlib.sha256(data).hexdigest()
    assert ptm("lock", "--check").code == 0
    # the pin, and its verified signature, are reused with no hub request
    hub.reset_requests()
    assert ptm("lock").code == 0 and hub.count() == 0


def test_sync_and_verify_signatures_pass_for_the_signed_bytes(hub, keys, project, ptm):
    publish(hub, keys)
    manifest(project, extra='files = ["*.json", "*.safetensors"]')  # model.sig is synced all the same
    assert ptm("lock").code == 0
    r = ptm("sync")
    assert r.code == 0, r.err
    r = ptm("verify", "--signatures")
    assert r.code == 0, r.err
    assert "Every signed model still matches its signature." in r.err


def test_a_file_changed_after_signing_does_not_lock(hub, keys, project, ptm):
    publish(hub, keys)
    hub.commit("acme/ft", {"config.json": b'{"hidden_size": 8, "model_type": "bert"}'})
    manifest(project)
    assert_refused(ptm("lock"), "acme/ft@", "config.json has sha256", "changed after signing")


def test_a_file_added_after_signing_is_refused_unless_allowed(hub, keys, project, ptm):
    publish(hub, keys)
    hub.commit("acme/ft", {"modeling_extra.py": b"print('hi')\n"})
    manifest(project)
    assert_refused(ptm("lock"), "modeling_extra.py is not covered by the signature")
    manifest(project, extra='signing = { allow-unsigned = ["modeling_extra.py"] }')  # keeps the project's signer
    r = ptm("lock")
    assert r.code == 0, r.err
    assert 'allow-unsigned=[\\"modeling_extra.py\\"]' in (project / "ptm.lock").read_text()


@pytest.mark.parametrize("pattern", ["*", "*.safetensors", "*.py", "model*", "weights/", "sub/*", "*.BIN", "*n"])
def test_allow_unsigned_patterns_that_could_exempt_weights_or_code_are_refused(hub, keys, project, ptm, pattern):
    # issue 22 item 8: a signature over README.md alone must not lock as "signed" through a wildcard
    publish(hub, keys)
    hub.commit("acme/ft", {"model.safetensors": b"other weights", "modeling_extra.py": b"print('hi')\n"})
    manifest(project, extra=f'signing = {{ allow-unsigned = ["*.md", "{pattern}"] }}')
    r = ptm("lock")
    assert r.code == 3, r.err
    assert f"'allow-unsigned' pattern {pattern!r} could exempt weight or code files" in r.err, r.err
    assert "ptm.toml:" in r.err and "Traceback" not in r.err, r.err
    assert not (project / "ptm.lock").exists()


def test_allow_unsigned_patterns_for_other_files_still_lock(hub, keys, project, ptm):
    publish(hub, keys)
    hub.commit("acme/ft", {"docs/notes.md": b"# notes\n", "LICENSE.txt": b"MIT\n"})
    manifest(project, extra='signing = { allow-unsigned = ["*.md", "*.txt"] }')
    r = ptm("lock")
    assert r.code == 0, r.err


def test_a_signature_by_another_key_does_not_lock(hub, keys, project, ptm):
    publish(hub, keys, key="other")
    manifest(project)
    assert_refused(ptm("lock"), "model.sig is not signed by the public key keys/acme.pem", "Key mismatch")


def test_a_signature_over_other_bytes_than_the_locked_ones_does_not_lock(hub, keys, project, ptm):
    other = {**FILES, "model.safetensors": b"\x00weights-v2" * 4096}
    publish(hub, keys, signed_files=other)
    manifest(project)
    assert_refused(ptm("lock"), "model.safetensors has sha256", "the signature says")


def test_a_signed_file_missing_from_the_commit_does_not_lock(hub, keys, project, ptm):
    publish(hub, keys, signed_files={**FILES, "vocab.txt": b"a\nb\n"})
    manifest(project)
    assert_refused(ptm("lock"), "vocab.txt is signed but not in the locked commit")


def test_a_missing_signature_does_not_lock(hub, keys, project, ptm):
    hub.commit("acme/ft", FILES)
    manifest(project)
    assert_refused(ptm("lock"), "no signature file 'model.sig'", "signing = false")
    # exempting the model locks it, with no signature recorded
    manifest(project, extra="signing = false")
    assert ptm("lock").code == 0
    assert "signature" not in model_entry(read_lock(project), "acme/ft")


@pytest.mark.parametrize("bundle", [b"not json at all", b'{"mediaType": "x"}', b"{}", b"\xff\xfe"])
def test_a_malformed_bundle_does_not_lock(hub, keys, project, ptm, bundle):
    publish(hub, keys, sig=bundle)
    manifest(project)
    assert_refused(ptm("lock"), "model.sig is not a valid Sigstore bundle")


def test_a_bundle_whose_payload_was_edited_does_not_lock(hub, keys, project, ptm):
    work = keys["work"] / "tamper"
    data = json.loads(sign_with_key(work, FILES, keys["acme"]))
    import base64

    statement = json.loads(base64.b64decode(data["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = "0" * 64
    data["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    publish(hub, keys, sig=json.dumps(data).encode())
    manifest(project)
    assert_refused(ptm("lock"), "model.sig is not signed by the public key keys/acme.pem")


def test_certificate_chain_signer(hub, keys, project, ptm):
    acme = write_chain(keys["work"], "Acme")
    rogue = write_chain(keys["work"], "Rogue")
    (project / "keys" / "acme-ca.pem").write_bytes(acme.ca.read_bytes())
    hub.commit("acme/ft", {**FILES, "model.sig": sign_with_certificate(keys["work"] / "c1", FILES, acme)})
    hub.commit("rogue/ft", {**FILES, "model.sig": sign_with_certificate(keys["work"] / "c2", FILES, rogue)})
    manifest(project, signer='certificate-chain = ["keys/acme-ca.pem"]')
    r = ptm("lock")
    assert r.code == 0, r.err
    signer = model_entry(read_lock(project), "acme/ft")["signature"]["signer"]
    assert signer.startswith("certificate O=Acme,CN=Acme ML team sha256:")
    before = (project / "ptm.lock").read_text()
    (project / "ptm.toml").write_text(MANIFEST.format(signer='certificate-chain = ["keys/acme-ca.pem"]',
                                                      extra="").replace("acme/ft", "rogue/ft"))
    assert_refused(ptm("lock"), "rogue/ft@", "is not signed by the certificate chain keys/acme-ca.pem",
                   "self-signed certificate", lock_before=before)


@pytest.fixture
def synced(hub, keys, project, ptm):
    publish(hub, keys)
    manifest(project)
    assert ptm("lock").code == 0 and ptm("sync").code == 0
    return project


def _blob(project, model, path) -> Path:
    entry = model_entry(read_lock(project), model)
    f = next(f for f in entry["files"] if f["path"] == path)
    folder = Path(os.environ["HF_HUB_CACHE"]) / f"models--{model.replace('/', '--')}" / "blobs"
    return folder / (f.get("sha256") or f["blob"])


def test_verify_signatures_reports_a_rotated_key(synced, keys, ptm):
    _, other_public = write_key(keys["work"], "rotated")
    (synced / "keys" / "acme.pem").write_bytes(other_public.read_bytes())
    r = ptm("verify", "--signatures")
    assert r.code == 1
    assert "acme/ft: signature model.sig is not signed by the public key keys/acme.pem" in r.out
    assert "Traceback" not in r.err


def test_verify_signatures_reports_a_changed_signature_file(synced, keys, ptm):
    blob = _blob(synced, "acme/ft", "model.sig")
    blob.write_bytes(b"{}")
    r = ptm("verify", "--signatures")
    assert r.code == 1
    assert "acme/ft: signature model.sig" in r.out and "missing or altered" in r.err
    # sync re-fetches the locked bundle, then holds the files to it again
    assert ptm("sync").code == 0
    assert ptm("verify", "--signatures").code == 0


def test_verify_reports_a_missing_signature_file(synced, ptm):
    _blob(synced, "acme/ft", "model.sig").unlink()
    r = ptm("verify", "--signatures")
    assert r.code == 1
    assert "acme/ft: model.sig: missing" in r.out
    assert "acme/ft: signature model.sig is missing; run `ptmlock sync`" in r.out


def test_verify_signatures_reads_the_real_blob_not_the_snapshot_link(synced, ptm, tmp_path):
    # the blob is altered, and the snapshot link redirected to a pristine copy: the signature check
    # reads the blob (the bytes the cache holds), so the copy hides nothing
    blob = _blob(synced, "acme/ft", "config.json")
    pristine = tmp_path / "pristine.json"
    pristine.write_bytes(blob.read_bytes())
    blob.write_bytes(b'{"hidden_size": 4, "model_type": "gpt2"}')
    commit = model_entry(read_lock(synced), "acme/ft")["commit"]
    link = blob.parent.parent / "snapshots" / commit / "config.json"
    link.unlink()
    link.symlink_to(pristine)
    r = ptm("verify", "--signatures", "--json")
    assert r.code == 1
    doc = json.loads(r.out)
    assert [line for line in doc["signatures"] if "config.json" in line] == [
        "acme/ft: config.json has sha256 " + hashlib.sha256(blob.read_bytes()).hexdigest()[:16]
        + "..., but the signature says " + hashlib.sha256(pristine.read_bytes()).hexdigest()[:16]
        + "... (changed after signing, or the signer signed other bytes)"]


def test_sync_refuses_synced_files_that_no_longer_match_the_signature(synced, keys, ptm):
    _, other_public = write_key(keys["work"], "rotated")
    (synced / "keys" / "acme.pem").write_bytes(other_public.read_bytes())
    r = ptm("sync")
    assert r.code == 5
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert "acme/ft: signature model.sig is not signed by the public key keys/acme.pem" in lines[-1]


def test_target_folder_with_a_planted_link_fails_the_signature_check(hub, keys, project, ptm, tmp_path):
    publish(hub, keys)
    manifest(project)
    assert ptm("lock").code == 0
    target = tmp_path / "models"
    assert ptm("sync", "--target", str(target)).code == 0
    assert ptm("verify", "--signatures", "--target", str(target)).code == 0
    cfg = target / "acme" / "ft" / "config.json"
    copy = tmp_path / "elsewhere.json"
    copy.write_bytes(cfg.read_bytes())
    cfg.unlink()
    cfg.symlink_to(copy)
    r = ptm("verify", "--signatures", "--target", str(target))
    assert r.code == 1 and "acme/ft: config.json is missing" in r.out


def test_changing_the_signer_makes_the_lock_stale(synced, ptm):
    (synced / "ptm.toml").write_text(MANIFEST.format(signer='public-key = "keys/other.pem"', extra=""))
    r = ptm("lock", "--check")
    assert r.code == 1
    assert "acme/ft: the signer ptm.toml requires was not verified by `ptmlock lock`" in r.out + r.err


def test_missing_key_file_is_a_manifest_error(hub, keys, project, ptm):
    publish(hub, keys)
    manifest(project, signer='public-key = "keys/nope.pem"')
    r = ptm("lock")
    assert r.code == 3 and "public-key = 'keys/nope.pem': no such file" in r.err
    assert not (project / "ptm.lock").exists()


def test_missing_extra_names_it_before_any_request(hub, keys, project, ptm, monkeypatch):
    publish(hub, keys)
    manifest(project)
    hub.reset_requests()
    monkeypatch.setitem(sys.modules, "model_signing", None)  # as if `ptmlock[signing]` were not installed
    monkeypatch.setitem(sys.modules, "model_signing.verifying", None)
    r = ptm("lock")
    assert r.code == 3
    assert "pip install 'ptmlock[signing]'" in r.err and hub.count() == 0


def test_lock_subprocess_prints_one_line_and_no_traceback(hub, keys, project):
    publish(hub, keys, key="other")
    manifest(project)
    proc = subprocess.run([sys.executable, "-m", "ptmlock", "lock"], cwd=project, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}, timeout=120)
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# --- keyless Sigstore: only what works offline ---------------------------------------------------


def _staging_trust_config(path: Path) -> Path:
    """A ClientTrustConfig built from the Sigstore staging root that sigstore-python ships."""
    import sigstore

    store = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev"
    path.write_text(json.dumps({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads((store / "trusted_root.json").read_text()),
        "signingConfig": json.loads((store / "signing_config.v0.2.json").read_text()),
    }))
    return path


def test_sigstore_identity_refuses_a_bundle_without_a_sigstore_certificate(hub, keys, project, ptm):
    publish(hub, keys)
    _staging_trust_config(project / "keys" / "trust.json")
    manifest(project, signer='identity = "ml@acme.example"\nissuer = "https://accounts.google.com"\n'
                             'trust-config = "keys/trust.json"')
    assert_refused(ptm("lock"), "model.sig is not a valid Sigstore bundle")


def test_sigstore_identity_refuses_a_key_signed_bundle_shaped_for_sigstore(hub, keys, project, ptm):
    # a key-signed bundle with the fields sigstore-python requires: parsed, then refused by policy
    data = json.loads(sign_with_key(keys["work"] / "s", FILES, keys["acme"]))
    chain = write_chain(keys["work"], "Fake")
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(chain.leaf.read_bytes()).public_bytes(serialization.Encoding.DER)
    data["verificationMaterial"] = {"certificate": {"rawBytes": base64.b64encode(der).decode()}, "tlogEntries": []}
    publish(hub, keys, sig=json.dumps(data).encode())
    _staging_trust_config(project / "keys" / "trust.json")
    manifest(project, signer='identity = "ml@acme.example"\nissuer = "https://accounts.google.com"\n'
                             'trust-config = "keys/trust.json"')
    r = ptm("lock")
    assert r.code == 5 and "Traceback" not in r.err, r.err
    assert "acme/ft@" in r.err and "model.sig" in r.err


# --- the runtime guard, with real transformers ---------------------------------------------------

GUARDED = """
import json, warnings
import ptmlock.enforce
from transformers import AutoModel
try:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bias = AutoModel.from_pretrained("acme/bert-ft").embeddings.LayerNorm.bias[0].item()
    print(json.dumps({"bias": bias, "warnings": [str(w.message) for w in caught
                                                  if w.category is ptmlock.enforce.PtmlockWarning]}))
except ptmlock.enforce.GuardError as e:
    print(json.dumps({"error": str(e)}))
"""


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_strict_guard_refuses_a_model_whose_required_signature_was_not_verified(hub, keys, project, ptm, tmp_path):
    from tinymodels import bert_files, last_json, run_app

    files = bert_files(tmp_path / "bert", 0.25)
    publish(hub, keys, files, repo="acme/bert-ft")
    text = '[project]\nname = "app"\npolicy = "strict"\n\n[models."acme/bert-ft"]\n'
    (project / "ptm.toml").write_text(text)
    assert ptm("lock").code == 0  # locked before the team required signatures
    (project / "ptm.toml").write_text(text.replace("[models.", '[signing]\npublic-key = "keys/acme.pem"\n\n[models.'))
    hub.reset_requests()
    out = last_json(run_app(project, GUARDED))
    assert "error" in out, out
    assert "ptm.lock is stale for 'acme/bert-ft'" in out["error"]
    assert "requires a signature by the public key keys/acme.pem" in out["error"]
    assert "Run `ptmlock lock`" in out["error"]
    assert hub.count(path_contains="acme/bert-ft") == 0  # refused before any request

    # warn mode loads it, and says why
    out = last_json(run_app(project, GUARDED, env={"PTMLOCK_MODE": "warn"}))
    assert out["bias"] == pytest.approx(0.25) and any("signature" in w for w in out["warnings"])

    # once `lock` verified the signature, the strict guard loads the pinned, signed bytes
    assert ptm("lock").code == 0
    out = last_json(run_app(project, GUARDED))
    assert out == {"bias": pytest.approx(0.25), "warnings": []}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_strict_guard_refuses_a_lock_entry_stripped_of_its_signature(hub, keys, project, ptm, tmp_path):
    from tinymodels import bert_files, last_json, run_app

    publish(hub, keys, bert_files(tmp_path / "bert", 0.5), repo="acme/bert-ft")
    (project / "ptm.toml").write_text('[project]\nname = "app"\npolicy = "strict"\n\n[signing]\n'
                                      'public-key = "keys/acme.pem"\n\n[models."acme/bert-ft"]\n')
    assert ptm("lock").code == 0
    lock = project / "ptm.lock"
    lock.write_text("\n".join(line for line in lock.read_text().splitlines() if not line.startswith("signature =")))
    out = last_json(run_app(project, GUARDED))
    assert "requires a signature by the public key keys/acme.pem" in out.get("error", ""), out


# --- ptm.toml: declarations, inheritance and errors with file:line:col ---------------------------


def test_signing_tables_inherit_project_then_role_then_model():
    from ptmlock.manifest.parse import parse_manifest

    m = parse_manifest('[signing]\npublic-key = "keys/acme.pem"\n\n'
                       '[models."acme/a"]\nrole = "enc"\n\n'
                       '[models."acme/b"]\nsigning = { certificate-chain = ["keys/ca.pem"] }\n\n'
                       '[models."org/c"]\nsigning = false\n\n'
                       '[roles.enc]\nsigning = { allow-unsigned = ["*.md"], signature = "sig/model.sig" }\n')
    a, b, c = m.models
    assert (a.signing.kind, a.signing.public_key, a.signing.allow_unsigned, a.signing.signature) == (
        "public-key", "keys/acme.pem", ("*.md",), "sig/model.sig")
    assert (b.signing.kind, b.signing.public_key, b.signing.certificate_chain) == ("certificate", None,
                                                                                    ("keys/ca.pem",))
    assert c.signing is None
    # the policy is part of the manifest hash: declaring a signer makes an old lock stale
    from ptmlock.lockfile.model import manifest_hash

    plain = parse_manifest('[models."acme/a"]\nrole = "enc"\n')
    assert manifest_hash(plain) != manifest_hash(m)


@pytest.mark.parametrize("text, message", [
    ('[project]\nname = "x"\n\n[signing]\npublic-kee = "k.pem"\n\n[models."a/b"]\n',
     "ptm.toml:5:1: unknown key 'public-kee' in [signing]. Did you mean 'public-key'?"),
    ('[models."a/b"]\n\n[models."a/b".signing]\npublic-key = "k.pem"\nallow_unsigned = ["x"]\n',
     "ptm.toml:5:1: unknown key 'allow_unsigned' in [models.\"a/b\".signing]. Did you mean 'allow-unsigned'?"),
    (('[signing]\npublic-key = "k.pem"\n\n[models."a/b"]\nsigning = { certificate-chain = ["ca.pem"], '
     'public-key = "x.pem" }\n'),
     ("ptm.toml:5:1: signing of 'a/b': the signing table names 2 signers (public-key, certificate): give exactly "
     "one of public-key = \"keys/x.pem\", certificate-chain = [\"keys/ca.pem\"], or identity = \"...\" with "
     "issuer = \"...\".")),
    ('[models."a/b"]\nsigning = { allow-unsigned = ["*.md"] }\n',
     ("ptm.toml:2:1: signing of 'a/b': the signing table names no signer: give exactly one of public-key = "
     "\"keys/x.pem\", certificate-chain = [\"keys/ca.pem\"], or identity = \"...\" with issuer = \"...\".")),
    ('[models."a/b"]\nsigning = { identity = "me@x" }\n',
     "ptm.toml:2:1: signing of 'a/b': a Sigstore signer needs both identity = \"...\" and issuer = \"https://...\"."),
    ('[models."a/b"]\nsigning = "yes"\n',
     "ptm.toml:2:1: signing must be a table or false, such as { public-key = \"keys/acme.pem\" }."),
    ('[models."a/b"]\nsigning = { public-key = "k.pem", signature = "../x.sig" }\n',
     "ptm.toml:2:1: signing of 'a/b': 'signature' must be a relative path inside the repo, not '../x.sig'."),
    ('[models."a/b"]\nrole = "enc"\n\n[roles.enc]\nsigning = { public-key = 3 }\n',
     "ptm.toml:5:1: signing of 'a/b': 'public-key' must be a non-empty string."),
    ('[signing]\npublic-key = "k.pem"\ntrust-config = "t.json"\n[models."a/b"]\n',
     "ptm.toml:1:1: signing of 'a/b': 'trust-config' applies only to a Sigstore signer (identity + issuer)."),
    ('[signing]\npublic-key = "k.pem"\n\n[models."pytorch/vision"]\nhub = "torchhub"\n',
     ("ptm.toml:4:1: 'pytorch/vision' (hub 'torchhub') must be signed ([signing] asks for it), but only Hugging "
     "Face repos carry a model.sig. Add `signing = false` to this model to exempt it.")),
])
def test_invalid_signing_tables_name_the_position_and_the_fix(project, ptm, text, message):
    (project / "ptm.toml").write_text(text)
    r = ptm("lock")
    assert r.code == 3
    assert r.err.strip() == f"error: {project}/{message}"

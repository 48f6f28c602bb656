"""Where a pin lands in a registry, which media type a file gets, and which URLs are accepted."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ptmlock.errors import UnsafeHubAnswerError
from ptmlock.lockfile.model import LockedModel
from ptmlock.oci import layout
from ptmlock.oci.auth import Credentials
from ptmlock.oci.client import RegistryClient

SHA = "86b5e0934494bd15c9632b12f734a8a67f723594"


def test_the_same_pin_always_lands_at_the_same_reference():
    url = layout.parse_registry_url("oci://Registry.Example:5000/team/models")
    model = LockedModel(id="google-bert/bert-base-uncased", commit=SHA)
    assert (url.host, url.namespace, url.scheme) == ("registry.example:5000", "team/models", "https")
    assert layout.repository(url, model) == "team/models/google-bert/bert-base-uncased"
    assert layout.tag(model) == "bert-base-uncased-86b5e0934494"
    odd = LockedModel(id="Org/Some__Model..v2", commit=SHA, repo_type="dataset")
    assert layout.repository(url, odd) == "team/models/datasets/org/some-model-v2"
    assert layout.tag(odd) == "Some__Model..v2-86b5e0934494"


@pytest.mark.parametrize(("path", "kind", "untested"), [
    ("model.safetensors", "weight", False), ("pytorch_model-00001-of-00002.bin", "weight", False),
    ("onnx/model.onnx", "weight", False), ("onnx/model.onnx_data", "weight", False), ("x.npy", "weight", False),
    ("x.npz", "weight", False), ("clf.joblib", "weight", False), ("m.keras", "weight", False),
    ("m.pt2", "weight", False), ("q4/model.gguf.part1of3", "weight", False), ("m.bin.part2", "weight", False),
    ("ckpt/model.ckpt.data-00000-of-00001", "weight", False),
    ("config.json", "weight.config", False), ("tokenizer.json", "weight.config", False),
    ("vocab.txt", "weight.config", False), ("merges.txt", "weight.config", False),
    ("tokenizer.model", "weight.config", False), ("chat_template.jinja", "weight.config", False),
    ("modeling_custom.py", "code", False), ("kernels/attn.cu", "code", False), ("csrc/op.cpp", "code", False),
    ("run.sh", "code", False), ("lib/op.so", "code", False), ("demo.ipynb", "code", False),
    ("requirements.txt", "code", False),
    ("README.md", "doc", False), ("LICENSE", "doc", False), ("notes.txt", "doc", False), ("fig.png", "doc", False),
    ("data/train.parquet", "dataset", False), ("data/x.arrow", "dataset", False), ("eval.csv", "dataset", False),
    (".gitattributes", "weight.config", True), ("weird.blob", "weight.config", True),
])
def test_files_get_the_modelpack_kind_the_spec_and_modctl_give_them(path, kind, untested):
    from ptmlock.oci.kinds import classify

    found = classify(path, 10)
    assert (found.kind, found.untested) == (kind, untested)
    assert layout.media_type(kind) == f"application/vnd.cncf.model.{kind}.v1.raw"


def test_every_file_of_a_dataset_repo_is_a_dataset_but_its_docs_and_an_unknown_large_file_is_a_weight():
    from ptmlock.oci.kinds import classify

    assert classify("train/part-0.json", repo_type="dataset").kind == "dataset"
    assert classify("README.md", repo_type="dataset").kind == "doc"
    assert (classify("blob.unknown", 200 * 1024 * 1024).kind, classify("blob.unknown", 200 * 1024 * 1024).untested) \
        == ("weight", True)


@pytest.mark.parametrize(("paths", "fmt"), [
    (["model.safetensors", "pytorch_model.bin"], "safetensors"), (["m.gguf"], "gguf"),
    (["onnx/model.onnx", "onnx/model.onnx_data"], "onnx"), (["pytorch_model.bin"], "pt"), ([], None),
    (["q.gguf.part1of2"], "gguf"),
])
def test_config_format_uses_the_spec_vocabulary(paths, fmt):
    from ptmlock.oci.kinds import model_format

    assert model_format(paths) == fmt


@pytest.mark.parametrize(("hub", "spdx"), [("mit", "MIT"), ("apache-2.0", "Apache-2.0"),
                                           ("llama3.1", "LicenseRef-hf-llama3.1"), ("other", "LicenseRef-hf-other")])
def test_licences_are_spdx_expressions(hub, spdx):
    assert layout.spdx_expression(hub) == spdx


@pytest.mark.parametrize("host", ["127.0.0.1:5000", "localhost", "[::1]:5000", "127.9.9.9"])
def test_plain_http_is_allowed_for_loopback(host):
    assert layout.parse_registry_url(f"oci+http://{host}/models").scheme == "http"


def test_insecure_allows_plain_http_anywhere_and_makes_oci_plain():
    assert layout.parse_registry_url("oci+http://10.0.0.5/m", insecure=True).base == "http://10.0.0.5"
    assert layout.parse_registry_url("oci://10.0.0.5/m", insecure=True).base == "http://10.0.0.5"


class _Challenger(BaseHTTPRequestHandler):
    """A hostile registry: every request gets a Bearer challenge whose realm is plain HTTP elsewhere."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="http://192.0.2.1/token",service="x"')
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_credentials_are_not_sent_to_a_plain_http_token_realm_on_another_machine():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Challenger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = layout.parse_registry_url(f"oci+http://127.0.0.1:{server.server_address[1]}/models")
        client = RegistryClient(url, credentials=Credentials(origin="test", username="u", password="p"))
        with pytest.raises(UnsafeHubAnswerError, match="ptmlock sends no credentials there"):
            client.get_manifest("models/x", "y")
    finally:
        server.shutdown()
        server.server_close()

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


@pytest.mark.parametrize(("path", "kind"), [
    ("model.safetensors", layout.WEIGHT_TYPE), ("pytorch_model.bin", layout.WEIGHT_TYPE),
    ("onnx/model.onnx", layout.WEIGHT_TYPE), ("config.json", layout.WEIGHT_CONFIG_TYPE),
    ("tokenizer.json", layout.WEIGHT_CONFIG_TYPE), ("vocab.txt", layout.WEIGHT_CONFIG_TYPE),
    ("modeling_custom.py", layout.CODE_TYPE), ("README.md", layout.DOC_TYPE), ("LICENSE", layout.DOC_TYPE),
    (".gitattributes", layout.DOC_TYPE),
])
def test_files_get_the_modelpack_media_type_of_their_kind(path, kind):
    assert layout.media_type(path) == kind


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

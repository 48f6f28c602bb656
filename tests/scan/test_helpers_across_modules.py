"""Issue 26, third round: tables filled entry by entry, a helper that fetches a `Request` of its URL, a
helper reached through `from <module> import *`, and a function that passes its URL parameter on to
another module's helper. One small real-style project per pattern; each asserts the ids the scan reports."""
from __future__ import annotations

import textwrap
from pathlib import Path

from scanprojects import found_ids as _found
from scanprojects import write_project as _write

from ptmlock.scan.scanner import scan_source


def test_a_table_filled_entry_by_entry_and_its_aliases() -> None:
    """torchxrayvision: `model_urls = {}`, then `model_urls["all"] = {...}` and an alias of it."""
    src = """\
        import torch
        model_urls = {}
        model_urls["all"] = {"weights_url": "https://example.org/v1/all-densenet121.pt", "labels": ["a"]}
        model_urls["densenet121-res224-all"] = model_urls["all"]
        model_urls["nih"] = {"weights_url": "https://example.org/v1/nih-densenet121.pt", "labels": ["b"]}

        def get_weights(weights):
            url = model_urls[weights]["weights_url"]
            return torch.hub.load_state_dict_from_url(url)
        """
    assert [(f.line, f.model_ids) for f in scan_source("models.py", textwrap.dedent(src))] == [
        (9, ("https://example.org/v1/all-densenet121.pt", "https://example.org/v1/nih-densenet121.pt"))]


def test_a_helper_that_fetches_a_request_of_its_url(tmp_path: Path) -> None:
    """facenet-pytorch: `urlopen(Request(url, headers=...))` in the package's own download helper."""
    _write(tmp_path, {
        "facenet/utils/download.py": """\
            from urllib.request import urlopen, Request

            def download_url_to_file(url, dst):
                req = Request(url, headers={"User-Agent": "torch.hub"})
                u = urlopen(req)
                return u.read()
            """,
        "facenet/inception.py": """\
            from .utils.download import download_url_to_file

            def load_weights(name):
                if name == "vggface2":
                    path = "https://example.org/releases/20180402-vggface2.pt"
                elif name == "casia-webface":
                    path = "https://example.org/releases/20180408-casia-webface.pt"
                download_url_to_file(path, "/tmp/w.pt")
            """,
    })
    assert _found(tmp_path) == {
        ("download.py", 5): None,
        ("inception.py", 8): ("https://example.org/releases/20180402-vggface2.pt",
                              "https://example.org/releases/20180408-casia-webface.pt"),
    }


def test_a_helper_reached_through_a_star_import(tmp_path: Path) -> None:
    """face-alignment: `from .utils import *` then `load_file_from_url(models_urls[...])`."""
    _write(tmp_path, {
        "fa/utils.py": """\
            from torch.hub import download_url_to_file

            def load_file_from_url(url, model_dir=None):
                download_url_to_file(url, "/tmp/x")
            """,
        "fa/api.py": """\
            from .utils import *
            models_urls = {"2DFAN-4": "https://example.org/python-fan/2DFAN4-11f355bf06.pth.tar"}

            def load(network_name):
                return load_file_from_url(models_urls[network_name])
            """,
    })
    assert _found(tmp_path) == {("utils.py", 4): None,
                                ("api.py", 5): ("https://example.org/python-fan/2DFAN4-11f355bf06.pth.tar",)}


def test_a_function_passing_its_url_on_to_another_modules_helper(tmp_path: Path) -> None:
    """torchxrayvision ieee8023: `_fetch(url)` calls `utils.download(url, local)`; `_fetch`'s calls in its
    own module are the load sites."""
    _write(tmp_path, {
        "xrv/utils.py": """\
            import requests

            def download(url, filename):
                with requests.get(url, stream=True) as response:
                    open(filename, "wb").write(response.content)
            """,
        "xrv/vqgan.py": """\
            from xrv import utils
            CKPT = "https://example.org/v1/cxr2_vqgan_768_sd.ckpt"

            def _fetch(url, cache_dir=None):
                utils.download(url, "/tmp/" + url.rsplit("/", 1)[-1])

            def build():
                return _fetch(CKPT)
            """,
    })
    assert _found(tmp_path) == {("utils.py", 4): None, ("vqgan.py", 8): ("https://example.org/v1/cxr2_vqgan_768_sd.ckpt",)}


def test_every_url_a_model_downloader_fetches_is_an_id() -> None:
    """backgroundremover: `download_files_from_github(path, model_name)` picks its URLs (parts with no
    file suffix) by model name and `requests.get`s each; a download function about models fetches
    models, whatever the URLs end in. A `download_*` function about anything else keeps the suffix rule."""
    src = """\
        import requests

        def download_files_from_github(path, model_name):
            urls = []
            if model_name == "u2net":
                urls = ["https://example.org/models/u2aa", "https://example.org/models/u2ab"]
            elif model_name == "u2netp":
                urls = ["https://example.org/models/u2netp.pth"]
            for i, url in enumerate(urls):
                open(path, "ab").write(requests.get(url, timeout=60).content)

        def download_leaderboard(dest):
            open(dest, "wb").write(requests.get("https://example.org/files/leaderboard.csv").content)
        """
    assert [(f.line, f.model_ids) for f in scan_source("github.py", textwrap.dedent(src))] == [
        (10, ("https://example.org/models/u2aa", "https://example.org/models/u2ab",
              "https://example.org/models/u2netp.pth"))]


_CHAIN = """\
    import requests

    def http_get(url, temp_file):
        req = requests.get(url, stream=True)
        temp_file.write(req.content)

    def get_from_cache(url, cache_dir=None):
        with open("/tmp/x", "wb") as temp_file:
            http_get(url, temp_file)

    def cached_path(url_or_filename, cache_dir=None):
        if url_or_filename.startswith("https://"):
            return get_from_cache(url_or_filename, cache_dir)
        return url_or_filename
    """


def test_a_chain_of_helpers_in_one_module_is_followed_to_the_callers(tmp_path: Path) -> None:
    """pytorch-pretrained-biggan: `cached_path(url)` -> `get_from_cache(url)` -> `http_get(url)` ->
    `requests.get(url)`; the calls of `cached_path` in another module are the load sites, and in a
    function that loads a model (`from_pretrained`) the model's config file is one of its files too."""
    _write(tmp_path, {
        "biggan/file_utils.py": _CHAIN,
        "biggan/model.py": """\
            from .file_utils import cached_path

            WEIGHTS = {"deep-128": "https://example.org/biggan/deep-128-pytorch_model.bin",
                       "deep-256": "https://example.org/biggan/deep-256-pytorch_model.bin"}
            CONFIGS = {"deep-128": "https://example.org/biggan/deep-128-config.json"}

            class BigGAN:
                @classmethod
                def from_pretrained(cls, name, cache_dir=None):
                    model_file = WEIGHTS[name]
                    config_file = CONFIGS[name]
                    weights = cached_path(model_file, cache_dir=cache_dir)
                    return weights, cached_path(config_file)

            def fetch_labels():
                return cached_path("https://example.org/biggan/labels.json")
            """,
    })
    assert _found(tmp_path) == {
        ("model.py", 12): ("https://example.org/biggan/deep-128-pytorch_model.bin",
                           "https://example.org/biggan/deep-256-pytorch_model.bin"),
        ("model.py", 13): ("https://example.org/biggan/deep-128-config.json",),
        # outside a model loader, a JSON file fetched by a generic helper is no model's
    }


def test_a_chain_of_helpers_reports_its_callers_in_the_same_module() -> None:
    """The same chain, called with a literal URL in its own module: that call is the site, and
    a chain that loops back on itself ends."""
    src = _CHAIN + """\

    def weights():
        return cached_path("https://example.org/m/model.safetensors")

    def ping(url):
        return ping(url)
    """
    assert [(f.line, f.model_ids) for f in scan_source("file_utils.py", textwrap.dedent(src))] == [
        (17, ("https://example.org/m/model.safetensors",))]

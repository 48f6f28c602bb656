"""Issue 26: ids chosen through `**kwargs` reads and loop variables (rembg's `sam.py` pattern), download
helpers that take a URL or a list of mirrors (deepface), and strings built from two reads of one table
entry (carvekit). One small real-style file per pattern; each asserts the ids the scan reports."""
from __future__ import annotations

import textwrap

import pytest

from ptmlock.scan.scanner import scan_paths, scan_source


def ids_of(src: str) -> list[tuple[int, tuple[str, ...] | None]]:
    return [(f.line, f.model_ids) for f in scan_source("app.py", textwrap.dedent(src))]


REL = "https://github.com/org/proj/releases/download/v0.0.0"

CASES = {
    "kwargs.get default, and the quantised name of an if": ("""\
        import pooch

        class SamSession:
            @classmethod
            def download_models(cls, *args, **kwargs):
                model_name = kwargs.get("sam_model", "sam_vit_b_01ec64")
                quant = bool(kwargs.get("sam_quant", False))
                fname = f"{model_name}.encoder.onnx"
                if quant:
                    fname = f"{model_name}.encoder.quant.onnx"
                return pooch.retrieve(f"https://github.com/org/proj/releases/download/v0.0.0/{fname}", None)
        """, [(11, (f"{REL}/sam_vit_b_01ec64.encoder.onnx", f"{REL}/sam_vit_b_01ec64.encoder.quant.onnx"))]),
    "kwargs.get default and the keyword the package's callers pass": ("""\
        from transformers import AutoModel

        def load_encoder(**kwargs):
            name = kwargs.get("encoder", "org/default-encoder")
            return AutoModel.from_pretrained(name)

        def small():
            return load_encoder(encoder="org/small-encoder")
        """, [(5, ("org/small-encoder", "org/default-encoder"))]),
    "kwargs.pop default": ("""\
        from sentence_transformers import SentenceTransformer

        class Embedder:
            def __init__(self, **kwargs):
                model = kwargs.pop("model_name", "org/pop-embedder")
                self.model = SentenceTransformer(model, **kwargs)
        """, [(6, ("org/pop-embedder",))]),
    "get default on a config read at run time": ("""\
        import json
        from transformers import AutoTokenizer

        def tokenizer(path):
            with open(path) as f:
                cfg = json.load(f)
            return AutoTokenizer.from_pretrained(cfg.get("tokenizer", "org/cfg-tokenizer"))
        """, [(7, ("org/cfg-tokenizer",))]),
    "range loop variable in an f-string": ("""\
        import pooch

        def fetch_blobs(target):
            for i in range(1, 4):
                pooch.retrieve(f"https://github.com/org/proj/releases/download/v0.0.0/vit_h.data.{i}.bin",
                               None, path=target)
        """, [(5, tuple(f"{REL}/vit_h.data.{i}.bin" for i in (1, 2, 3)))]),
    "range with a constant bound, joined with + and str()": ("""\
        import torch
        N_SHARDS = 2
        BASE = "https://example.org/ckpt/model-"

        def load_all():
            return [torch.hub.load_state_dict_from_url(BASE + str(k) + ".pth") for k in range(N_SHARDS)]
        """, [(6, ("https://example.org/ckpt/model-0.pth", "https://example.org/ckpt/model-1.pth"))]),
    "loop over a tuple of literals with format": ("""\
        import urllib.request

        def download_weights(dest):
            for part in ("encoder", "decoder"):
                urllib.request.urlretrieve("https://example.org/w/{}.onnx".format(part), dest)
        """, [(5, ("https://example.org/w/encoder.onnx", "https://example.org/w/decoder.onnx"))]),
    "two reads of one table entry in an f-string (carvekit)": ("""\
        import requests
        MODELS = {
            "basnet.pth": {"repository": "org/basnet", "revision": "a1b2c3", "filename": "basnet.pth"},
            "u2net.pth": {"repository": "org/u2net", "revision": "d4e5f6", "filename": "full_weights.pth"},
        }

        class Downloader:
            def __init__(self, base_url="https://cdn.example.org"):
                self.base_url = base_url

            def download_model(self, file_name):
                entry = MODELS[file_name]
                url = f"{self.base_url}/{entry['repository']}/resolve/{entry['revision']}/{entry['filename']}"
                return requests.get(url, stream=True)
        """, [(14, ("https://cdn.example.org/org/basnet/resolve/a1b2c3/basnet.pth",
                    "https://cdn.example.org/org/u2net/resolve/d4e5f6/full_weights.pth"))]),
    "loop over a module-level list": ("""\
        from huggingface_hub import hf_hub_download
        FILES = ["vae.safetensors", "unet.safetensors"]

        def fetch():
            for fname in FILES:
                hf_hub_download("org/loop-repo", fname)
        """, [(6, ("org/loop-repo",))]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_pattern(name: str) -> None:
    src, want = CASES[name]
    assert ids_of(src) == want


@pytest.mark.parametrize("src", [
    # a range too long to be a choice of files, or with run-time bounds: the URL is dynamic
    """\
    import pooch
    def fetch(n):
        for i in range(n):
            pooch.retrieve(f"https://example.org/x/part{i}.bin", None)
        for j in range(1000):
            pooch.retrieve(f"https://example.org/y/part{j}.bin", None)
    """,
    # an HTTP client's get(url, params) is not a dict read: its second argument is no default
    """\
    from transformers import AutoModel
    def load(session, url):
        return AutoModel.from_pretrained(session.get(url, "org/not-a-default"))
    """,
])
def test_no_id_from_an_unbounded_loop_or_a_client_get(src: str) -> None:
    assert all(ids is None or not any("part" in i or "not-a-default" in i for i in ids) for _, ids in ids_of(src))


def test_a_weights_helper_in_another_module_that_takes_a_url_or_a_list_of_mirrors(tmp_path) -> None:
    """deepface: `download_weights_if_necessary(file_name, source_url)` makes its URL a list and fetches
    each mirror in turn; its callers in other modules are the load sites, each mirror an id (a Hub
    file URL as its repo), whatever the file's suffix, since the helper says it fetches weights."""
    (tmp_path / "pkg" / "models").mkdir(parents=True)
    (tmp_path / "pkg" / "weights.py").write_text(textwrap.dedent("""\
        import gdown

        def download_weights_if_necessary(file_name, source_url):
            source_urls = [source_url] if isinstance(source_url, str) else list(source_url)
            for idx, url in enumerate(source_urls):
                gdown.download(url, file_name)
        """))
    (tmp_path / "pkg" / "models" / "age.py").write_text(textwrap.dedent("""\
        from pkg import weights
        WEIGHTS_URL = [
            "https://github.com/org/models/releases/download/v1.0/age.h5",
            "https://huggingface.co/org/models/resolve/main/age.h5",
        ]

        def load_model(url=WEIGHTS_URL):
            return weights.download_weights_if_necessary(file_name="age.h5", source_url=url)
        """))
    (tmp_path / "pkg" / "models" / "landmarks.py").write_text(textwrap.dedent("""\
        from pkg.weights import download_weights_if_necessary
        LANDMARKS_URL = "https://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2"
        path = download_weights_if_necessary("landmarks.dat", LANDMARKS_URL)
        """))
    found = {(f.path.rsplit("/", 1)[-1], f.line): f.model_ids for f in scan_paths([str(tmp_path)], use_cache=False)}
    assert found == {
        ("weights.py", 6): None,  # the fetch itself: a run-time URL in a downloader
        ("age.py", 8): ("https://github.com/org/models/releases/download/v1.0/age.h5", "org/models"),
        ("landmarks.py", 3): ("https://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2",),
    }


def test_a_helper_not_named_for_weights_keeps_only_urls_of_model_files(tmp_path) -> None:
    (tmp_path / "fetch.py").write_text(textwrap.dedent("""\
        import urllib.request

        def download_file(url, dest):
            urls = [url]
            for u in urls:
                urllib.request.urlretrieve(u, dest)
        """))
    (tmp_path / "app.py").write_text(textwrap.dedent("""\
        from fetch import download_file
        download_file("https://example.org/logo.png", "logo.png")
        download_file("https://example.org/weights/net.pth", "net.pth")
        """))
    found = {(f.path.rsplit("/", 1)[-1], f.line): f.model_ids for f in scan_paths([str(tmp_path)], use_cache=False)}
    assert found == {("fetch.py", 6): None, ("app.py", 3): ("https://example.org/weights/net.pth",)}


def test_a_helper_named_for_weights_in_another_package_or_two_modules_away(tmp_path) -> None:
    """deepface's onnx models call `build_session(file_name, source_url=url)`, which passes the URL on
    to `weight_utils.download_weights_if_necessary` (whose body this scan may not hold): a call of a
    helper named for what it fetches is a load of its URL argument, and `build_session` a wrapper."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "onnx_utils.py").write_text(textwrap.dedent("""\
        from vendor import weight_utils

        def build_session(file_name, source_url):
            path = weight_utils.download_weights_if_necessary(file_name=file_name, source_url=source_url)
            return path
        """))
    (tmp_path / "pkg" / "age.py").write_text(textwrap.dedent("""\
        from pkg.onnx_utils import build_session
        WEIGHTS_URL = "https://github.com/org/models/releases/download/v1.0/age.onnx"

        def load_model(url=WEIGHTS_URL):
            return build_session(file_name="age.onnx", source_url=url)
        """))
    (tmp_path / "pkg" / "sface.py").write_text(textwrap.dedent("""\
        from vendor.weight_utils import download_model
        session = download_model("https://github.com/opencv/opencv_zoo/raw/main/models/sface.onnx")
        """))
    found = {(f.path.rsplit("/", 1)[-1], f.line): f.model_ids for f in scan_paths([str(tmp_path)], use_cache=False)}
    assert found == {
        ("onnx_utils.py", 4): None,  # the helper's own call: its URL is its caller's
        ("age.py", 5): ("https://github.com/org/models/releases/download/v1.0/age.onnx",),
        ("sface.py", 2): ("https://github.com/opencv/opencv_zoo/raw/main/models/sface.onnx",),
    }


def test_a_fetch_of_a_configured_url_into_a_checkpoint_path_is_a_dynamic_load() -> None:
    """transparent-background: the URL comes from a YAML file read at run time; the file it is saved
    to is named for a checkpoint, so the fetch loads a model (an image saved elsewhere is no load)."""
    src = """\
        import os
        import gdown

        class Remover:
            def __init__(self, meta, home_dir):
                ckpt_dir, ckpt_name = home_dir, meta.ckpt_name
                gdown.download(meta.url, os.path.join(ckpt_dir, ckpt_name), fuzzy=True)
                gdown.download(meta.logo_url, os.path.join(home_dir, "logo.png"))
        """
    assert ids_of(src) == [(7, None)]


def _easyocr_like(root) -> None:
    (root / "ocr").mkdir(parents=True)
    (root / "ocr" / "__init__.py").write_text("")
    (root / "ocr" / "config.py").write_text(textwrap.dedent("""\
        detection_models = {
            "craft": {"filename": "craft.pth", "url": "https://example.org/releases/craft_mlt_25k.zip"},
            "dbnet18": {"filename": "db18.pt", "url": "https://example.org/releases/ic15_res18.zip"},
        }
        RECOGNIZER_URL = "https://example.org/releases/english_g2.zip"
        """))
    (root / "ocr" / "utils.py").write_text(textwrap.dedent("""\
        from urllib.request import urlretrieve

        def download_and_unzip(url, filename, model_storage_directory):
            urlretrieve(url, model_storage_directory + "/" + filename + ".zip")
        """))
    (root / "ocr" / "reader.py").write_text(textwrap.dedent("""\
        from .utils import get_paragraph,\\
                           download_and_unzip
        from .config import *
        from ocr.config import RECOGNIZER_URL

        class Reader:
            def __init__(self, detect_network="craft", storage="~/.ocr"):
                self.detection_models = detection_models
                model = self.detection_models[detect_network]
                download_and_unzip(model["url"], model["filename"], storage)
                download_and_unzip(RECOGNIZER_URL, "english_g2.pth", storage)
        """))


def test_constants_imported_from_another_module_reach_a_helper_call(tmp_path) -> None:
    """easyocr: the URL tables live in `config.py` (`from .config import *`), the helper in `utils.py`
    (imported over a backslash-continued line), the calls in `reader.py`."""
    _easyocr_like(tmp_path)
    found = {(f.path.rsplit("/", 1)[-1], f.line): f.model_ids for f in scan_paths([str(tmp_path)], use_cache=False)}
    assert found == {
        ("utils.py", 4): None,
        ("reader.py", 10): ("https://example.org/releases/craft_mlt_25k.zip", "https://example.org/releases/ic15_res18.zip"),
        ("reader.py", 11): ("https://example.org/releases/english_g2.zip",),
    }


def test_a_warm_scan_reads_an_edited_constants_module_again(tmp_path) -> None:
    _easyocr_like(tmp_path / "proj")
    cache = tmp_path / "cache"
    scan_paths([str(tmp_path / "proj")], cache_dir=str(cache))
    config = tmp_path / "proj" / "ocr" / "config.py"
    config.write_text(config.read_text().replace("english_g2.zip", "english_g3.zip"))
    found = {f.line: f.model_ids for f in scan_paths([str(tmp_path / "proj")], cache_dir=str(cache))
             if f.path.endswith("reader.py")}
    assert found[11] == ("https://example.org/releases/english_g3.zip",)


def test_a_flag_read_with_a_default_is_not_surely_that_default() -> None:
    """transformers' timm backbone: `pretrained = kwargs.pop("pretrained", False)`: the caller may pass
    True, so the `timm.create_model` stays a (dynamic) load."""
    src = """\
        import timm

        class TimmBackbone:
            def __init__(self, config, **kwargs):
                pretrained = kwargs.pop("pretrained", False)
                self.backbone = timm.create_model(config.backbone, pretrained=pretrained)
        """
    assert ids_of(src) == [(6, None)]


def test_a_table_of_classes_filled_under_run_time_keys_is_no_table() -> None:
    """`CLASSES[name] = getattr(transformers, name + "Fast")` in a loop: the receiver stays as written."""
    src = """\
        import transformers
        CLASSES = {}
        for name in ["BertTokenizer", "Phi3Tokenizer"]:
            CLASSES[name] = getattr(transformers, "LlamaTokenizerFast" if name == "Phi3Tokenizer" else name + "Fast")

        def convert(tokenizer_name, checkpoint):
            tokenizer_class = CLASSES[tokenizer_name]
            return tokenizer_class.from_pretrained(checkpoint)
        """
    assert [(f.line, f.loader) for f in scan_source("app.py", textwrap.dedent(src))] == [
        (8, "tokenizer_class.from_pretrained")]

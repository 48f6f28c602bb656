"""Issue 26: ids chosen through `**kwargs` reads and loop variables (rembg's `sam.py` pattern).
One small real-style file per pattern; each asserts the ids `scan_source` reports."""
from __future__ import annotations

import textwrap

import pytest

from ptmlock.scan.scanner import scan_source


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

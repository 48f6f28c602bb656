"""Issue 26: ids reach loaders through the places real code keeps them. One small real-style file
per pattern (value flow, download helpers, more loaders); each asserts the ids `scan_source` reports."""
from __future__ import annotations

import textwrap

import pytest

from ptmlock.scan.scanner import scan_paths, scan_source
from ptmlock.scan.tables import CLIP_MODELS, GEFFNET_URLS


def ids_of(src: str) -> list[tuple[int, tuple[str, ...] | None]]:
    return [(f.line, f.model_ids) for f in scan_source("app.py", textwrap.dedent(src))]


CASES = {
    "dataclass field via self.cfg, split for open_clip": ("""\
        from dataclasses import dataclass
        import open_clip

        @dataclass
        class Config:
            clip_model_name: str = "ViT-B-32/laion2b_s34b_b79k"

        class Interrogator:
            def __init__(self, config: Config):
                self.config = config
                name, tag = self.config.clip_model_name.split("/", 2)
                self.model = open_clip.create_model_and_transforms(name, pretrained=tag)
        """, [(12, ("laion/CLIP-ViT-B-32-laion2B-s34B-b79K",))]),
    "attrs field default": ("""\
        import attr
        from transformers import AutoModel

        @attr.s
        class Settings:
            encoder = attr.ib(default="org/attrs-encoder")

        def build(settings: Settings):
            return AutoModel.from_pretrained(settings.encoder)
        """, [(9, ("org/attrs-encoder",))]),
    "pydantic Field default": ("""\
        from pydantic import BaseModel, Field
        from sentence_transformers import SentenceTransformer

        class Settings(BaseModel):
            embedder: str = Field("org/pydantic-embedder", description="the model")

        def embed(s: Settings):
            return SentenceTransformer(s.embedder)
        """, [(8, ("org/pydantic-embedder",))]),
    "NamedTuple default": ("""\
        from typing import NamedTuple
        from transformers import AutoTokenizer

        class Cfg(NamedTuple):
            tokenizer_id: str = "org/nt-tokenizer"

        def tok(cfg: Cfg):
            return AutoTokenizer.from_pretrained(cfg.tokenizer_id)
        """, [(8, ("org/nt-tokenizer",))]),
    "argparse default": ("""\
        import argparse
        from transformers import AutoModelForCausalLM

        parser = argparse.ArgumentParser()
        parser.add_argument("--model", default="org/argparse-lm")
        args = parser.parse_args()
        model = AutoModelForCausalLM.from_pretrained(args.model)
        """, [(7, ("org/argparse-lm",))]),
    "click and typer defaults": ("""\
        import click
        import typer
        from transformers import AutoModel

        @click.command()
        @click.option("--model-name", default="org/click-model")
        def main(model_name):
            AutoModel.from_pretrained(model_name)

        def serve(model: str = typer.Option("org/typer-model")):
            AutoModel.from_pretrained(model)
        """, [(8, ("org/click-model",)), (11, ("org/typer-model",))]),
    "module and class constants": ("""\
        from transformers import AutoModel
        BASE = "org/module-const"

        class Loader:
            CHECKPOINT = "org/class-const"

            def load(self):
                return AutoModel.from_pretrained(BASE), AutoModel.from_pretrained(self.CHECKPOINT)
        """, [(8, ("org/module-const",)), (8, ("org/class-const",))]),
    "each branch's value": ("""\
        from transformers import AutoModel

        def load(size):
            if size == "small":
                name = "org/branch-small"
            elif size == "base":
                name = "org/branch-base"
            else:
                name = "org/branch-large"
            return AutoModel.from_pretrained(name)
        """, [(10, ("org/branch-small", "org/branch-base", "org/branch-large"))]),
    "two-level table indexed by parameters": ("""\
        from transformers import AutoModel
        DEFAULTS = {"bert": {"en": "org/bert-en", "de": "org/bert-de"}, "t5": {"en": "org/t5-en"}}

        def load(family, lang):
            return AutoModel.from_pretrained(DEFAULTS[family][lang])
        """, [(5, ("org/bert-en", "org/bert-de", "org/t5-en"))]),
    "list indexed by a parameter": ("""\
        from transformers import AutoModel
        CHOICES = ["org/list-a", "org/list-b"]

        def pick(i):
            return AutoModel.from_pretrained(CHOICES[i])
        """, [(5, ("org/list-a", "org/list-b"))]),
    "URL built from a prefix and a list element": ("""\
        import torch
        BASE = "https://example.org/weights/"
        FILES = ["a-1234.pth", "b-5678.pth"]

        def load(i):
            return torch.hub.load_state_dict_from_url(BASE + FILES[i])
        """, [(6, ("https://example.org/weights/a-1234.pth", "https://example.org/weights/b-5678.pth"))]),
    "f-string and format with module constants": ("""\
        import torch
        HOST = "https://example.org"
        VERSION = "v2"

        a = torch.hub.load_state_dict_from_url(f"{HOST}/{VERSION}/net.pth")
        b = torch.hub.load_state_dict_from_url("{}/{}/head.pth".format(HOST, VERSION))
        """, [(5, ("https://example.org/v2/net.pth",)), (6, ("https://example.org/v2/head.pth",))]),
    "os.path.join and urljoin on a URL": ("""\
        import os
        from urllib.parse import urljoin
        import torch
        ROOT = "https://example.org/models"

        a = torch.hub.load_state_dict_from_url(os.path.join(ROOT, "joined.pth"))
        b = torch.hub.load_state_dict_from_url(urljoin(ROOT + "/", "urljoined.pth"))
        """, [(6, ("https://example.org/models/joined.pth",)), (7, ("https://example.org/models/urljoined.pth",))]),
    "return of a project-local helper": ("""\
        import torch
        _URLS = {"r50": {"in1k": "https://example.org/r50-in1k.pth", "in21k": "https://example.org/r50-in21k.pth"}}

        def get_pretrained_url(model, tag):
            return _URLS[model][tag]

        def load(model, tag):
            return torch.hub.load_state_dict_from_url(get_pretrained_url(model, tag))
        """, [(8, ("https://example.org/r50-in1k.pth", "https://example.org/r50-in21k.pth"))]),
    "download helper with urlopen: its callers are the sites": ("""\
        import urllib.request
        _MODELS = {"small": "https://example.org/small-1.pt", "big": "https://example.org/big-2.pt"}

        def _download(url, root):
            with urllib.request.urlopen(url) as source:
                return source.read()

        def load(name):
            return _download(_MODELS[name], "~/.cache")
        """, [(9, ("https://example.org/small-1.pt", "https://example.org/big-2.pt"))]),
    "wget and hf_hub_download in a helper": ("""\
        import wget
        from huggingface_hub import hf_hub_download

        def fetch(url):
            return wget.download(url)

        weights = fetch("https://example.org/ckpt/model.ckpt")
        cfg = hf_hub_download("org/helper-repo", "config.json")
        """, [(7, ("https://example.org/ckpt/model.ckpt",)), (8, ("org/helper-repo",))]),
    "a generic fetch of no model is no load": ("""\
        import requests
        r = requests.get("https://api.example.org/v1/items.json")
        """, []),
    "OpenAI CLIP clip.load": ("""\
        import clip
        model, preprocess = clip.load("ViT-L/14", device="cpu")
        """, [(2, (CLIP_MODELS["ViT-L/14"],))]),
    "geffnet create_model": ("""\
        import geffnet
        m = geffnet.create_model("efficientnet_b0", pretrained=True)
        n = geffnet.create_model("efficientnet_b0", pretrained=False)
        """, [(2, (GEFFNET_URLS["efficientnet_b0"],))]),
    "flashrank Ranker": ("""\
        from flashrank import Ranker
        ranker = Ranker(model_name="ms-marco-MiniLM-L-12-v2")
        """, [(2, ("prithivida/flashrank",))]),
    "pylate ColBERT": ("""\
        from pylate import models
        model = models.ColBERT(model_name_or_path="lightonai/colbertv2.0")
        """, [(2, ("lightonai/colbertv2.0",))]),
    "HF URL with a run-time file name keeps its repo": ("""\
        import requests
        MODEL_URL = "https://huggingface.co/org/zips/resolve/main/{}.zip"

        def _download_model_files(name):
            return requests.get(MODEL_URL.format(name), stream=True)
        """, [(5, ("org/zips",))]),
    "super().from_pretrained in an override is the caller's load": ("""\
        from diffusers import StableDiffusionPipeline

        class MyPipeline(StableDiffusionPipeline):
            @classmethod
            def from_pretrained(cls, *args, **kwargs):
                return super().from_pretrained(*args, **kwargs)

        pipe = MyPipeline.from_pretrained("org/sd-custom")
        """, [(8, ("org/sd-custom",))]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_pattern(name: str) -> None:
    src, want = CASES[name]
    assert ids_of(src) == want


def test_torch_hub_load_from_a_vendored_hubconf_reports_the_urls_it_fetches(tmp_path) -> None:
    """`torch.hub.load(local_dir, "Entry", source="local")` loads nothing by itself; the vendored
    hubconf.py is project code, so the URLs its entry points fetch are found there."""
    (tmp_path / "third_party" / "midas").mkdir(parents=True)
    (tmp_path / "third_party" / "midas" / "hubconf.py").write_text(textwrap.dedent("""\
        import torch
        dependencies = ["torch"]
        _URL = "https://example.org/midas/dpt_small-1234abcd.pt"

        def DPT_Small(pretrained=True):
            model = torch.nn.Identity()
            if pretrained:
                model.load_state_dict(torch.hub.load_state_dict_from_url(_URL, map_location="cpu"))
            return model
        """))
    (tmp_path / "app.py").write_text(
        'import torch\nmodel = torch.hub.load("third_party/midas", "DPT_Small", source="local")\n')
    found = scan_paths([str(tmp_path)], use_cache=False)
    assert [(f.path.rsplit("/", 1)[-1], f.model_ids) for f in found] == [
        ("hubconf.py", ("https://example.org/midas/dpt_small-1234abcd.pt",))]

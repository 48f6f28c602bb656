"""scan.identity: the hub entry each library really fetches, checked against the installed
libraries' own registries (timm, open_clip, torchvision, transformers, sentence-transformers)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ptmlock.scan import identity
from ptmlock.scan.scanner import scan_source


def test_shipped_table_matches_the_installed_libraries():
    r = subprocess.run([sys.executable, "-m", "ptmlock.scan.regenerate", "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "up to date" in r.stdout, r.stderr


def test_timm_names_resolve_as_timm_itself_resolves_them():
    timm = pytest.importorskip("timm")
    from timm.models import get_pretrained_cfg

    for name in ("vit_base_patch16_384", "resnet50", "test_vit", "efficientnet_b0.ra_in1k",
                 "convnext_tiny.fb_in22k", *timm.list_models(pretrained=True)[::97]):
        cfg = get_pretrained_cfg(name)
        got = identity.timm(name)
        assert got is not None, name
        assert (got.hub, got.id) == (("huggingface", cfg.hf_hub_id) if cfg.hf_hub_id else ("url", cfg.url)), name
    assert identity.timm("no_such_arch") is None


def test_open_clip_pairs_resolve_to_the_repo_or_url_open_clip_downloads():
    open_clip = pytest.importorskip("open_clip")
    from open_clip import pretrained

    for model, tag in open_clip.list_pretrained()[::7]:
        cfg = pretrained.get_pretrained_cfg(model, tag)
        got = identity.open_clip(model, tag)
        hub = cfg.get("hf_hub", "").strip("/")
        expected = ("huggingface", "/".join(hub.split("/")[:2])) if hub else ("url", cfg["url"])
        assert got is not None and (got.hub, got.id) == expected, (model, tag)


def test_torchvision_weights_resolve_to_the_enum_url():
    pytest.importorskip("torchvision")
    from torchvision.models import ResNet50_Weights, ViT_B_16_Weights

    assert identity.torchvision("resnet50", "ResNet50_Weights.IMAGENET1K_V2", True).id == ResNet50_Weights.IMAGENET1K_V2.url
    assert identity.torchvision("resnet50", "DEFAULT", True).id == ResNet50_Weights.DEFAULT.url
    assert identity.torchvision("resnet50", None, True).id == ResNet50_Weights.IMAGENET1K_V1.url  # pretrained=True
    assert identity.torchvision("vit_b_16", "IMAGENET1K_SWAG_E2E_V1", True).id == ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1.url
    assert identity.torchvision("resnet50", None, False) is None


def test_task_defaults_and_name_rules():
    from transformers.pipelines import SUPPORTED_TASKS

    model, revision = SUPPORTED_TASKS["text-classification"]["default"]["model"]
    assert identity.pipeline_default("sentiment-analysis") == identity.Identity("huggingface", model, revision)
    assert identity.sentence_transformers("all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert identity.sentence_transformers("ms-marco-MiniLM-L6-v2", "CrossEncoder") == "cross-encoder/ms-marco-MiniLM-L6-v2"
    assert identity.sentence_transformers("bert-base-uncased") == "google-bert/bert-base-uncased"
    assert identity.sentence_transformers("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert identity.hf_repo("gpt2") == "openai-community/gpt2"
    assert identity.hf_repo("org/gpt2") == "org/gpt2"
    assert identity.legacy_alias("google-bert/bert-base-uncased") == "bert-base-uncased"


def test_scan_reports_each_library_load_under_the_id_it_fetches():
    code = textwrap.dedent("""\
        import timm, open_clip, torchvision
        from torchvision.models import resnet50, ResNet50_Weights
        from transformers import pipeline, AutoModel
        from sentence_transformers import SentenceTransformer, CrossEncoder
        a = timm.create_model("vit_base_patch16_384", pretrained=True)
        b = open_clip.create_model_and_transforms("ViT-L-14", pretrained="openai")
        c = resnet50(weights=ResNet50_Weights.IMAGENET1K_V2)
        d = torchvision.models.resnet18(pretrained=True)
        e = pipeline("sentiment-analysis")
        f = SentenceTransformer("all-MiniLM-L6-v2")
        g = CrossEncoder("ms-marco-MiniLM-L6-v2")
        h = AutoModel.from_pretrained("bert-base-uncased")
        i = pipeline("fill-mask")
        """)
    got = [(f.line, f.hub, f.model_ids, f.revision) for f in scan_source("app.py", code)]
    tasks = identity.table()["transformers-pipeline"]["tasks"]
    assert got == [
        (5, "huggingface", ("timm/vit_base_patch16_384.augreg_in21k_ft_in1k",), None),
        (6, "huggingface", ("timm/vit_large_patch14_clip_224.openai",), None),
        (7, "url", ("https://download.pytorch.org/models/resnet50-11ad3fa6.pth",), None),
        (8, "url", ("https://download.pytorch.org/models/resnet18-f37072fd.pth",), None),
        (9, "huggingface", (tasks["text-classification"][0],), tasks["text-classification"][1]),
        (10, "huggingface", ("sentence-transformers/all-MiniLM-L6-v2",), None),
        (11, "huggingface", ("cross-encoder/ms-marco-MiniLM-L6-v2",), None),
        (12, "huggingface", ("google-bert/bert-base-uncased",), None),
        (13, "huggingface", (tasks["fill-mask"][0],), tasks["fill-mask"][1]),
    ]

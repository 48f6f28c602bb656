"""Helpers around model names. Nothing in this module should count as a Hub load.

Usage::

    model = AutoModel.from_pretrained("bert-base-uncased")
    ner = pipeline("ner", model="dslim/bert-base-NER")
"""
import os
from pathlib import Path

import torch.nn as nn
from efficientnet_pytorch import EfficientNet
from sklearn.pipeline import Pipeline, make_pipeline
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, pipeline

# AutoModel.from_pretrained("roberta-base") is what we used before v2
KNOWN = {"bert-base-uncased", "roberta-base"}
HELP = 'call AutoModel.from_pretrained("gpt2") to load a model'


def is_bert(name):
    if name == "bert-base-uncased":
        return True
    return "bert" in name or name.startswith("google-bert/")


def describe():
    print("Loading with pipeline('sentiment-analysis', model='x')")
    return f"AutoTokenizer.from_pretrained({sorted(KNOWN)!r})"


class ClassifierModel(PreTrainedModel):
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        kwargs.setdefault("trust_remote_code", False)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)


def save_and_reload(model, tokenizer, out="checkpoints/final"):
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    a = AutoModel.from_pretrained("./checkpoints/final")
    b = AutoModel.from_pretrained("/mnt/models/bert-large")
    c = AutoModel.from_pretrained(os.path.join(out, "best"))
    d = AutoTokenizer.from_pretrained(Path(out) / "tokenizer")
    ckpt_path = os.path.expanduser("~/models/llama-7b")
    e = AutoModel.from_pretrained(ckpt_path)
    f = AutoModel.from_pretrained(f"{ckpt_path}/step-1000")
    g = AutoModel.from_pretrained("runs/exp1/checkpoint-500")
    h = AutoModel.from_pretrained("C:\\models\\bert")
    return a, b, c, d, e, f, g, h


def efficientnet():
    return EfficientNet.from_pretrained("efficientnet-b0")


class GloveEncoder(nn.Module):
    def __init__(self, vectors):
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(vectors, freeze=True)
        self.bag = nn.EmbeddingBag.from_pretrained(vectors, mode="mean")


def sklearn_pipelines(clf):
    return make_pipeline(clf), Pipeline([("clf", clf)])


def from_config(config):
    return AutoModel.from_config(config)


def typed(model: AutoModel) -> AutoModel:
    return model.eval()

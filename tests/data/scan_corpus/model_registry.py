"""A tiny model registry: `build("bert")` returns a ready encoder."""
import functools
from typing import Callable, Dict

import torch
from transformers import AutoModel, AutoTokenizer, RagRetriever, RagTokenForGeneration

REGISTRY: Dict[str, Callable] = {}


def register(name):
    def deco(fn):
        REGISTRY[name] = fn
        return fn
    return deco


@register("bert")
def bert():
    return AutoModel.from_pretrained("google-bert/bert-base-uncased")  # expect: transformers.AutoModel.from_pretrained ids=google-bert/bert-base-uncased


@register("scibert")
def scibert(revision="main"):
    return AutoModel.from_pretrained("allenai/scibert_scivocab_uncased", revision=revision)  # expect: transformers.AutoModel.from_pretrained ids=allenai/scibert_scivocab_uncased rev=main


@register("rag")
def rag():
    retriever = RagRetriever.from_pretrained("facebook/rag-token-nq", index_name="exact", use_dummy_dataset=True)  # expect: transformers.RagRetriever.from_pretrained ids=facebook/rag-token-nq
    return RagTokenForGeneration.from_pretrained("facebook/rag-token-nq", retriever=retriever)  # expect: transformers.RagTokenForGeneration.from_pretrained ids=facebook/rag-token-nq


def build(name, **kwargs):
    return REGISTRY[name](**kwargs)


def closure_loader():
    name = "sentence-transformers/all-MiniLM-L12-v2"

    def load():
        return AutoModel.from_pretrained(name)  # expect: transformers.AutoModel.from_pretrained ids=sentence-transformers/all-MiniLM-L12-v2

    return load


load_electra = functools.partial(AutoModel.from_pretrained, "google/electra-base-discriminator")  # expect: transformers.AutoModel.from_pretrained ids=google/electra-base-discriminator missed


class Encoders:
    DEFAULT = "intfloat/multilingual-e5-small"

    @classmethod
    def default(cls):
        return AutoModel.from_pretrained(cls.DEFAULT)  # expect: transformers.AutoModel.from_pretrained ids=intfloat/multilingual-e5-small


def maybe_pretrained(config, use_pretrained=True, name="albert/albert-base-v2"):
    model = AutoModel.from_pretrained(name) if use_pretrained else AutoModel.from_config(config)  # expect: transformers.AutoModel.from_pretrained ids=albert/albert-base-v2
    return model


def tokenizer_from_model(model):
    return AutoTokenizer.from_pretrained(model.config._name_or_path)  # expect: transformers.AutoTokenizer.from_pretrained ids=?


def repo_relative(path="models/bert-finetuned"):
    return AutoModel.from_pretrained(path)  # fp: transformers.AutoModel.from_pretrained ids=models/bert-finetuned


def env_required():
    import os

    try:
        name = os.environ["ENCODER"]
    except KeyError:
        name = "thenlper/gte-small"
    return AutoModel.from_pretrained(name, torch_dtype=torch.float16)  # expect: transformers.AutoModel.from_pretrained ids=thenlper/gte-small

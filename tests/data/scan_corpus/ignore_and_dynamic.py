"""Loads whose model is only known at run time, and loads excluded on purpose."""
import sys

import transformers
import yaml
from transformers import AutoModel, AutoTokenizer


def from_cli():
    return AutoModel.from_pretrained(sys.argv[1])  # expect: transformers.AutoModel.from_pretrained ids=?


def from_config(path="configs/default.yaml"):
    with open(path) as f:
        cfg = yaml.safe_load(f)
    return AutoModel.from_pretrained(cfg["model"]["name"])  # expect: transformers.AutoModel.from_pretrained ids=?


def from_prompt():
    name = input("model id: ").strip()
    return AutoTokenizer.from_pretrained(name)  # expect: transformers.AutoTokenizer.from_pretrained ids=?


def by_class_name(cls_name="BertModel", name="google-bert/bert-base-cased"):
    return getattr(transformers, cls_name).from_pretrained(name)  # expect: transformers.BertModel.from_pretrained ids=google-bert/bert-base-cased


def tiny_for_tests():
    return AutoModel.from_pretrained("hf-internal-testing/tiny-random-bert")  # ptmlock: ignore  # expect: transformers.AutoModel.from_pretrained ids=hf-internal-testing/tiny-random-bert ignored


def tiny_gpt2_for_tests():
    return AutoModel.from_pretrained(  # expect: transformers.AutoModel.from_pretrained ids=hf-internal-testing/tiny-random-gpt2 ignored
        "hf-internal-testing/tiny-random-gpt2",
    )  # ptmlock: ignore

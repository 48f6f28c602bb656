"""Less common loaders and resolution paths: typer, zip, set_defaults, keras, SPLADE, URLs."""
import argparse
import torch
import typer
from diffusers import StableDiffusionPipeline
from huggingface_hub import from_pretrained_keras
from sentence_transformers import SparseEncoder
from transformers import AutoModel, AutoTokenizer

app = typer.Typer()
NAMES = ["google/electra-small-generator", "google/electra-base-generator"]
REVS = ["v1", "v2"]


@app.command()
def main(model: str = typer.Option("google/mobilebert-uncased", help="model id")):
    return AutoModel.from_pretrained(model)  # expect: transformers.AutoModel.from_pretrained ids=google/mobilebert-uncased


def pairs():
    for name, rev in zip(NAMES, REVS):
        AutoTokenizer.from_pretrained(name, revision=rev)  # expect: transformers.AutoTokenizer.from_pretrained ids=google/electra-small-generator,google/electra-base-generator rev=v1 scan-rev=none


def keras_model():
    return from_pretrained_keras("keras-io/ocr-for-captcha")  # expect: huggingface_hub.from_pretrained_keras ids=keras-io/ocr-for-captcha


def splade():
    return SparseEncoder("naver/splade-cocondenser-ensembledistil")  # expect: sentence_transformers.SparseEncoder ids=naver/splade-cocondenser-ensembledistil


def fetch(dst="/tmp/w.pth"):
    torch.hub.download_url_to_file("https://example.org/weights/w.pth", dst)  # expect: torch.hub.download_url_to_file ids=https://example.org/weights/w.pth


def dataset_file():
    return StableDiffusionPipeline.from_single_file("https://huggingface.co/datasets/org/ckpts/blob/v2/model.safetensors")  # expect: diffusers.StableDiffusionPipeline.from_single_file ids=org/ckpts rev=v2 type=dataset


parser = argparse.ArgumentParser()
parser.add_argument("--encoder")
parser.set_defaults(encoder="google/canine-s")
args = parser.parse_args()
AutoModel.from_pretrained(args.encoder)  # expect: transformers.AutoModel.from_pretrained ids=google/canine-s

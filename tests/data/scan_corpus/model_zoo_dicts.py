"""Encoders behind one config dict: swap them with --encoder small|base|roberta."""
import torch
from transformers import AutoModel, AutoTokenizer, CLIPModel, CLIPProcessor

MODEL_ZOO = {
    "small": "prajjwal1/bert-small",
    "base": "google-bert/bert-base-uncased",
    "roberta": "FacebookAI/roberta-base",
}

CLIP_VARIANTS = [
    "openai/clip-vit-base-patch32",
    "openai/clip-vit-base-patch16",
    "openai/clip-vit-large-patch14",
]

ENCODERS = {
    "text": {"name": "sentence-transformers/all-mpnet-base-v2", "dim": 768},
    "vision": {"name": "google/vit-base-patch16-224-in21k", "dim": 768},
}


class TextEncoder(torch.nn.Module):
    def __init__(self, size="base", pooling="cls"):
        super().__init__()
        name = MODEL_ZOO[size]
        self.tokenizer = AutoTokenizer.from_pretrained(name)  # expect: transformers.AutoTokenizer.from_pretrained ids=prajjwal1/bert-small,google-bert/bert-base-uncased,FacebookAI/roberta-base
        self.model = AutoModel.from_pretrained(name)  # expect: transformers.AutoModel.from_pretrained ids=prajjwal1/bert-small,google-bert/bert-base-uncased,FacebookAI/roberta-base
        self.pooling = pooling

    def forward(self, texts):
        batch = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        out = self.model(**batch).last_hidden_state
        return out[:, 0] if self.pooling == "cls" else out.mean(dim=1)


def load_clip(variant_idx: int = 0):
    name = CLIP_VARIANTS[variant_idx]
    return CLIPModel.from_pretrained(name), CLIPProcessor.from_pretrained(name)  # expect: transformers.CLIPModel.from_pretrained ids=openai/clip-vit-base-patch32,openai/clip-vit-base-patch16,openai/clip-vit-large-patch14 # expect: transformers.CLIPProcessor.from_pretrained ids=openai/clip-vit-base-patch32,openai/clip-vit-base-patch16,openai/clip-vit-large-patch14


def build_encoders():
    out = {}
    for modality, spec in ENCODERS.items():
        out[modality] = AutoModel.from_pretrained(spec["name"])  # expect: transformers.AutoModel.from_pretrained ids=sentence-transformers/all-mpnet-base-v2,google/vit-base-patch16-224-in21k
    return out


def load_roberta():
    return AutoModel.from_pretrained(MODEL_ZOO["roberta"])  # expect: transformers.AutoModel.from_pretrained ids=FacebookAI/roberta-base


def all_clip_models():
    return [CLIPModel.from_pretrained(v) for v in CLIP_VARIANTS]  # expect: transformers.CLIPModel.from_pretrained ids=openai/clip-vit-base-patch32,openai/clip-vit-base-patch16,openai/clip-vit-large-patch14


def first_clip():
    return CLIPProcessor.from_pretrained(CLIP_VARIANTS[0])  # expect: transformers.CLIPProcessor.from_pretrained ids=openai/clip-vit-base-patch32


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default="base", choices=sorted(MODEL_ZOO))
    args = parser.parse_args()
    encoder = TextEncoder(size=args.encoder)
    print(encoder(["hello world"]).shape)

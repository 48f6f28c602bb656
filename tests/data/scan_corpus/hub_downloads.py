"""Fetch weights and data files straight from the Hub."""
import json
import os

import fasttext
import huggingface_hub as hfh
from huggingface_hub import HfApi, hf_hub_download, hf_hub_url, snapshot_download

REPO_ID = "facebook/fasttext-language-identification"
ORG = "Salesforce"
DATASET_REPO = "HuggingFaceH4/ultrachat_200k"


def language_id_model():
    path = hf_hub_download(repo_id=REPO_ID, filename="model.bin")  # expect: huggingface_hub.hf_hub_download ids=facebook/fasttext-language-identification
    return fasttext.load_model(path)


def blip_config(name="blip-image-captioning-base"):
    cfg = hf_hub_download(f"{ORG}/{name}", "config.json", revision="v1.0")  # expect: huggingface_hub.hf_hub_download ids=Salesforce/blip-image-captioning-base rev=v1.0
    with open(cfg) as f:
        return json.load(f)


def chat_data():
    return snapshot_download(DATASET_REPO, repo_type="dataset", allow_patterns=["*.parquet"])  # expect: huggingface_hub.snapshot_download ids=HuggingFaceH4/ultrachat_200k type=dataset


def vae_weights(local_dir="./weights/vae"):
    return snapshot_download(repo_id="stabilityai/sd-vae-ft-mse", local_dir=local_dir)  # expect: huggingface_hub.snapshot_download ids=stabilityai/sd-vae-ft-mse


def via_api():
    api = HfApi()
    return api.hf_hub_download("google-bert/bert-base-uncased", "config.json")  # expect: huggingface_hub.HfApi.hf_hub_download ids=google-bert/bert-base-uncased


def via_module():
    return hfh.snapshot_download("google/gemma-2b", revision="refs/pr/12")  # expect: huggingface_hub.snapshot_download ids=google/gemma-2b rev=refs/pr/12


def url_only():
    return hf_hub_url("openai-community/gpt2", "config.json")


def space_assets():
    return snapshot_download("gradio/theme-gallery", repo_type="space")


def gated_tokenizer():
    token = os.environ.get("HF_TOKEN")
    return hf_hub_download("meta-llama/Llama-2-7b-chat-hf", "tokenizer.model", token=token)  # expect: huggingface_hub.hf_hub_download ids=meta-llama/Llama-2-7b-chat-hf

"""The demo hub's tiny models load with the pinned transformers, for every kind of object the demo
names: tokenizer, model and processor (issue 24: demo/tiny-roberta's merges named tokens its
vocab did not have, so `AutoTokenizer.from_pretrained` failed for anyone testing against it).
Real transformers on CPU, through the real huggingface_hub client against a real LocalHub."""
from __future__ import annotations

import json

import pytest

from ptmlock.testing import populate_demo
from ptmlock.testing._demo import DEMO_REPOS, tiny_roberta_files

pytestmark = pytest.mark.ml
TEXT = "the model lock"


def test_every_merge_of_the_roberta_demo_is_in_its_vocab():
    files = tiny_roberta_files()
    vocab = json.loads(files["vocab.json"])
    merges = [line.split() for line in files["merges.txt"].decode().splitlines()[1:]]
    assert merges, "no merges"
    missing = [" ".join(m) for m in merges if m[0] not in vocab or m[1] not in vocab or m[0] + m[1] not in vocab]
    assert missing == []


@pytest.mark.parametrize("repo", ["demo/tiny-bert", "demo/tiny-roberta"])
def test_text_demo_tokenizer_and_model_load_and_run(hub, repo):
    import torch
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    populate_demo(hub)
    tokenizer = AutoTokenizer.from_pretrained(repo)
    ids = tokenizer(TEXT)["input_ids"]
    assert tokenizer.unk_token_id not in ids, tokenizer.convert_ids_to_tokens(ids)
    assert tokenizer.decode(ids, skip_special_tokens=True).strip() == TEXT
    batch = tokenizer([TEXT], return_tensors="pt")
    with torch.no_grad():
        hidden = AutoModel.from_pretrained(repo)(**batch).last_hidden_state
        logits = AutoModelForMaskedLM.from_pretrained(repo)(**batch).logits
    assert hidden.shape == (1, len(ids), 8)
    assert logits.shape == (1, len(ids), tokenizer.vocab_size) and torch.isfinite(logits).all()


def test_whisper_demo_processor_and_model_load_and_run(hub):
    import torch
    from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

    populate_demo(hub)
    processor = AutoProcessor.from_pretrained("demo/tiny-whisper")
    features = processor.feature_extractor([0.0] * 16000, sampling_rate=16000, return_tensors="pt").input_features
    assert features.shape[1] == 8  # the demo's mel bins
    model = AutoModelForSpeechSeq2Seq.from_pretrained("demo/tiny-whisper")
    with torch.no_grad():
        out = model(input_features=features[:, :, :32], decoder_input_ids=torch.tensor([[1, 5]]))
    assert out.logits.shape == (1, 2, model.config.vocab_size) and torch.isfinite(out.logits).all()


def test_the_demo_lists_exactly_these_models():
    assert {repo for repo, (kind, _) in DEMO_REPOS.items() if kind == "model"} == {
        "demo/tiny-bert", "demo/tiny-roberta", "demo/tiny-whisper"}

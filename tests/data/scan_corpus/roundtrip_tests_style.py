"""Tests in a research repo: save/reload round trips and one real (slow) download."""
import tempfile

import pytest
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

TINY = "hf-internal-testing/tiny-random-BertModel"


def tiny_config():
    return BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)


def test_roundtrip(tmp_path):
    model = BertModel(tiny_config())
    model.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path)
    with tempfile.TemporaryDirectory() as tmpdirname:
        model.save_pretrained(tmpdirname)
        again = BertModel.from_pretrained(tmpdirname)
    assert reloaded.config.hidden_size == again.config.hidden_size == 32


@pytest.mark.slow
@pytest.mark.parametrize("name", [TINY, "hf-internal-testing/tiny-random-RobertaModel"])
def test_real_download(name):
    tokenizer = AutoTokenizer.from_pretrained(name)  # expect: transformers.AutoTokenizer.from_pretrained ids=hf-internal-testing/tiny-random-BertModel,hf-internal-testing/tiny-random-RobertaModel
    model = AutoModel.from_pretrained(TINY)  # expect: transformers.AutoModel.from_pretrained ids=hf-internal-testing/tiny-random-BertModel
    assert model(**tokenizer("hi", return_tensors="pt")).last_hidden_state.shape[0] == 1

"""The guard with real transformers configs and tokenizers, no torch (issue 21): the same test runs
in the main venv (transformers 5.x, huggingface_hub 2.x) and in .ci/run's 4.x venv (transformers
4.57, huggingface_hub 0.36), where transformers resolves no revision once per load and every file
goes through `hf_hub_download` with `revision="main"` or None."""
from __future__ import annotations

import json

import pytest

from tinymodels import last_json, run_app, write_project

pytestmark = pytest.mark.torchfree

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tokenizer_repo(tag: str) -> dict[str, bytes]:
    """A BERT config and WordPiece tokenizer whose config says `tag` and whose vocabulary has it."""
    return {
        "config.json": json.dumps({"model_type": "bert", "vocab_size": 8, "hidden_size": 8, "num_hidden_layers": 1,
                                   "num_attention_heads": 1, "intermediate_size": 8, "tag": tag}).encode(),
        "vocab.txt": "\n".join([*SPECIALS, "hello", tag]).encode() + b"\n",
        "tokenizer_config.json": json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True}).encode(),
    }


APP = """
    import json, warnings
    warnings.simplefilter("always")
    import ptmlock.enforce
    from transformers import AutoConfig, AutoTokenizer, BertConfig, BertTokenizerFast
    vocab = lambda tok: sorted(set(tok.get_vocab()) & {"old", "new"})
    print(json.dumps({
        "AutoConfig": AutoConfig.from_pretrained("org/tok").tag,
        "BertConfig": BertConfig.from_pretrained("org/tok").tag,
        "AutoTokenizer": vocab(AutoTokenizer.from_pretrained("org/tok")),
        "BertTokenizerFast": vocab(BertTokenizerFast.from_pretrained("org/tok")),
    }))
"""
LOCKED = {"AutoConfig": "old", "BertConfig": "old", "AutoTokenizer": ["old"], "BertTokenizerFast": ["old"]}


@pytest.mark.parametrize("mode", ["warn", "strict"])
def test_configs_and_tokenizers_load_the_locked_commit_after_upstream_moved(hub, project, ptm, mode):
    hub.commit("org/tok", tokenizer_repo("old"))
    write_project(project, {"org/tok": {}})
    hub.commit("org/tok", tokenizer_repo("new"))  # upstream moves after locking

    unguarded = run_app(project, APP, env={"PTMLOCK_MODE": "off"})  # what the program reads without the guard
    assert last_json(unguarded) == {"AutoConfig": "new", "BertConfig": "new", "AutoTokenizer": ["new"],
                                    "BertTokenizerFast": ["new"]}, unguarded.stderr
    online = run_app(project, APP, env={"PTMLOCK_MODE": mode})
    assert last_json(online) == LOCKED, online.stderr
    assert "PtmlockWarning" not in online.stderr and "Traceback" not in online.stderr, online.stderr

    assert ptm("sync", "--manifest", str(project / "ptm.toml")).code == 0
    hub.reset_requests()
    offline = run_app(project, APP, env={"PTMLOCK_MODE": mode, "HF_HUB_OFFLINE": "1"})
    assert last_json(offline) == LOCKED, offline.stderr
    assert "PtmlockWarning" not in offline.stderr, offline.stderr
    assert hub.count() == 0

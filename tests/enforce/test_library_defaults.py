"""Issue 21, item 1: a library's own default revision is not the caller's choice.

transformers' model-specific classes (`BertModel`, `WhisperConfig`, `BertTokenizerFast`, ...)
inherit `from_pretrained(..., revision="main")`: with a model pinned at a tag, a call that passes
no revision must load the locked commit with no warning, in warn and strict mode, online and
offline (after `ptmlock sync`), after upstream moved the tag and `main`. A revision the caller
does write is judged as before, with advice that fits the call.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tinymodels import bert_files, clean_environ, last_json, run_app

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.ml]

APP = """
import ptmlock.enforce, json, warnings
from transformers import BertModel, BertTokenizerFast, WhisperConfig, AutoConfig



class OwnConfig(WhisperConfig):  # an override with its own default, as Qwen2_5OmniForConditionalGeneration has
    @classmethod
    def from_pretrained(cls, name, revision="main", **kwargs):
        return super().from_pretrained(name, revision=revision, **kwargs)


out = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for name, load in {
        "WhisperConfig": lambda: WhisperConfig.from_pretrained("org/whisper").ptm_marker,
        "AutoConfig": lambda: AutoConfig.from_pretrained("org/whisper").ptm_marker,
        "BertModel": lambda: BertModel.from_pretrained("org/bert").embeddings.LayerNorm.bias[0].item(),
        "BertTokenizerFast": lambda: BertTokenizerFast.from_pretrained("org/bert").init_kwargs["ptm_marker"],
        "override": lambda: OwnConfig.from_pretrained("org/whisper").ptm_marker,
        "explicit-main": lambda: WhisperConfig.from_pretrained("org/whisper", revision="main").ptm_marker,
    }.items():
        try:
            out[name] = load()
        except ptmlock.enforce.GuardError as e:
            out[name] = "refused: " + str(e)
        except Exception as e:
            out[name] = "failed: " + type(e).__name__
out["warnings"] = [str(w.message) for w in caught if w.category is ptmlock.enforce.PtmlockWarning]
print(json.dumps(out))
"""


def _whisper(marker: str) -> dict[str, bytes]:
    from transformers import WhisperConfig

    config = WhisperConfig(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16)
    data = config.to_dict()
    data["ptm_marker"] = marker
    return {"config.json": json.dumps(data).encode()}


def _bert(tmp_path, version: float) -> dict[str, bytes]:
    files = bert_files(tmp_path / f"b{version}", version)
    config = json.loads(files["tokenizer_config.json"])
    config["ptm_marker"] = f"v{int(version)}"  # the tokenizer says which commit it was read from
    return {**files, "tokenizer_config.json": json.dumps(config).encode()}


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    """org/bert and org/whisper declared at tag v1.0 and locked; then upstream moved `main` and the
    tag to v2 bytes. Returns (project, {"online"/"offline": environment}, hub); offline, the cache
    holds only what `ptmlock sync` placed."""
    from ptmlock.testing import LocalHub

    root = tmp_path_factory.mktemp("tagged")
    project = root / "proj"
    project.mkdir()
    with LocalHub(root / "hub") as hub:
        env = {**clean_environ(), "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(root / "hf"),
               "HF_HUB_CACHE": str(root / "hf" / "hub"), "HF_HUB_DISABLE_XET": "1",
               "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
        for repo, files in (("org/bert", lambda v: _bert(root, v)), ("org/whisper", lambda v: _whisper(f"v{int(v)}"))):
            hub.commit(repo, files(1.0))
            hub.create_tag(repo, "v1.0")
        (project / "ptm.toml").write_text('[project]\nname = "app"\n\n[models."org/bert"]\nrevision = "v1.0"\n\n'
                                          '[models."org/whisper"]\nrevision = "v1.0"\n')
        offline = {**env, "HF_HUB_CACHE": str(root / "synced"), "HF_HUB_OFFLINE": "1"}  # only what sync placed
        for args, where in ((("lock",), env), (("sync",), {**offline, "HF_HUB_OFFLINE": "0"})):
            done = subprocess.run([sys.executable, "-m", "ptmlock", *args], cwd=project, capture_output=True,
                                  text=True, env=where)
            assert done.returncode == 0, done.stderr
        for repo, files in (("org/bert", lambda v: _bert(root, v)), ("org/whisper", lambda v: _whisper(f"v{int(v)}"))):
            hub.commit(repo, files(2.0))
            hub.delete_tag(repo, "v1.0")
            hub.create_tag(repo, "v1.0")  # upstream re-pointed the tag at the new commit
        yield project, {"online": env, "offline": offline}, hub


@pytest.mark.parametrize("mode", ["warn", "strict"])
@pytest.mark.parametrize("network", ["online", "offline"])
def test_model_specific_classes_with_no_revision_load_the_locked_tag(tagged, mode, network):
    project, envs, _hub = tagged
    proc = run_app(project, APP, base=envs[network], env={"PTMLOCK_MODE": mode})
    out = last_json(proc)
    assert out["WhisperConfig"] == out["AutoConfig"] == out["override"] == "v1", proc.stderr
    assert out["BertModel"] == 1.0, proc.stderr
    assert out["BertTokenizerFast"] == "v1", proc.stderr
    # the caller's own revision="main" contradicts the tag: judged as written, with advice that fits
    message_start = "'org/whisper' is locked at "
    message_end = ("(ref 'v1.0' in ptm.toml), but the code asks for revision 'main'. Drop the revision argument to "
                   "load the pinned commit.")
    if mode == "warn":
        assert out["explicit-main"] == ("v2" if network == "online" else "failed: OSError"), proc.stderr
        assert len(out["warnings"]) == 1, out["warnings"]
        warning = out["warnings"][0]
    else:
        assert out["explicit-main"].startswith("refused: "), out
        assert out["warnings"] == [], out["warnings"]
        warning = out["explicit-main"]
    assert message_start in warning and message_end in warning, warning
    assert "ptmlock add" not in warning  # `ptmlock add org/whisper@main` would throw the pin away

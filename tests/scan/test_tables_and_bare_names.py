"""Issue 26, round 7 (whisperx, bert-score, unbabel-comet): a `defaultdict` table filled with
`.update(...)` and read from another module, a package's Hub download helper named
`download_model`, and bare names that no Hub repo has. Each asserts the ids the scan reports."""
from __future__ import annotations

import textwrap
from pathlib import Path

from scanprojects import found_ids as _found
from scanprojects import write_project as _write

from ptmlock.scan.scanner import scan_source


def test_a_defaultdict_table_filled_by_update_and_read_from_another_module(tmp_path: Path) -> None:
    """bert-score: `lang2model = defaultdict(lambda: "bert-base-multilingual-cased")`, then
    `lang2model.update({...})`; another module picks `lang2model[lang]` and hands it to the
    package's `get_model(model_type)`: every entry and the default are the ids, as fetched."""
    _write(tmp_path, {
        "bscore/utils.py": """\
            from collections import defaultdict
            from transformers import AutoModel

            lang2model = defaultdict(lambda: "bert-base-multilingual-cased")
            lang2model.update(
                {
                    "en": "roberta-large",
                    "tr": "dbmdz/bert-base-turkish-cased",
                }
            )

            def get_model(model_type, num_layers):
                return AutoModel.from_pretrained(model_type)
            """,
        "bscore/score.py": """\
            from .utils import get_model, lang2model

            def score(cands, model_type=None, lang=None):
                if model_type is None:
                    model_type = lang2model[lang.lower()]
                return get_model(model_type, 9)
            """,
    })
    found = _found(tmp_path)
    assert found[("utils.py", 13)] is None  # the helper itself: its caller's choice
    assert set(found[("score.py", 6)] or ()) == {
        "google-bert/bert-base-multilingual-cased", "FacebookAI/roberta-large", "dbmdz/bert-base-turkish-cased"}


def test_a_literal_key_of_a_defaultdict_picks_its_entry_or_any() -> None:
    src = """\
        from collections import defaultdict
        from transformers import AutoModel
        table = defaultdict(lambda: "org/fallback")
        table.update(en="org/english")
        table.update({"de": "org/german"})
        a = AutoModel.from_pretrained(table["en"])
        b = AutoModel.from_pretrained(table["xx"])
        """
    found = {f.line: set(f.model_ids or ()) for f in scan_source("t.py", textwrap.dedent(src))}
    assert found[6] == {"org/english"}
    assert found[7] == {"org/fallback", "org/english", "org/german"}  # an unknown key: any entry, the default too


def test_a_hub_helper_named_download_model_reports_its_callers(tmp_path: Path) -> None:
    """unbabel-comet: `download_model(model)` passes a Hub repo id to `snapshot_download`; the CLI
    calls it with an argparse default (through jsonargparse's `ArgumentParser`)."""
    _write(tmp_path, {
        "cmt/models/__init__.py": """\
            from huggingface_hub import snapshot_download

            def download_model(model, saving_directory=None):
                return snapshot_download(repo_id=model, cache_dir=saving_directory)
            """,
        "cmt/__init__.py": "from .models import download_model\n",
        "cmt/cli/score.py": """\
            from jsonargparse import ArgumentParser
            from cmt import download_model

            def score_command():
                parser = ArgumentParser(description="Command for scoring MT systems.")
                parser.add_argument("--model", type=str, default="Unbabel/wmt22-comet-da")
                cfg = parser.parse_args()
                return download_model(cfg.model, saving_directory=None)
            """,
    })
    assert _found(tmp_path)[("score.py", 8)] == ("Unbabel/wmt22-comet-da",)


def test_bare_names_no_hub_repo_has_are_not_ids() -> None:
    """whisperx: a table of torchaudio pipeline names beside a table of Hub ids feeds one variable;
    the torchaudio names (`WAV2VEC2_ASR_BASE_960H`) are no Hub repos, the legacy ids are."""
    src = """\
        import torchaudio
        from transformers import Wav2Vec2ForCTC
        TORCH = {"en": "WAV2VEC2_ASR_BASE_960H"}
        HF = {"ja": "jonatasgrosman/wav2vec2-large-xlsr-53-japanese", "xx": "bert-base-uncased"}

        def load_align_model(language_code, model_name=None):
            if model_name is None:
                if language_code in TORCH:
                    model_name = TORCH[language_code]
                else:
                    model_name = HF[language_code]
            if model_name in torchaudio.pipelines.__all__:
                return torchaudio.pipelines.__dict__[model_name].get_model()
            return Wav2Vec2ForCTC.from_pretrained(model_name)

        local = Wav2Vec2ForCTC.from_pretrained("my_finetuned_model")
        """
    found = {f.line: f.model_ids for f in scan_source("align.py", textwrap.dedent(src))}
    assert found == {14: ("jonatasgrosman/wav2vec2-large-xlsr-53-japanese", "google-bert/bert-base-uncased")}

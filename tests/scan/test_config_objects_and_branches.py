"""Issue 26, round 8 (punctuators, pysentimiento): a dataclass instance built with its Hub repo as a
keyword and read back as an attribute (also through a classmethod's table and `cls(cfg=...)`), and a
class picked by `if`/`elif` on the key that also picks the model from a table. Each asserts the ids."""
from __future__ import annotations

import textwrap

from ptmlock.scan.scanner import scan_source


def _ids(src: str) -> dict[int, tuple[str, ...] | None]:
    return {f.line: f.model_ids for f in scan_source("m.py", textwrap.dedent(src))}


def test_a_dataclass_instance_read_back_gives_what_it_was_built_with() -> None:
    src = """\
        from dataclasses import dataclass
        from typing import Optional
        from huggingface_hub import hf_hub_download

        @dataclass
        class Config:
            model_filename: str
            hf_repo_id: Optional[str] = None

        def direct():
            cfg = Config(hf_repo_id="org/direct", model_filename="model.onnx")
            return hf_hub_download(repo_id=cfg.hf_repo_id, filename=cfg.model_filename)

        def other():
            return Config(hf_repo_id="org/other", model_filename="x.onnx")
        """
    assert _ids(src) == {12: ("org/direct",)}  # the instance it reads, not every Config built


def test_a_config_table_in_a_classmethod_reaches_the_constructor_through_cls() -> None:
    """punctuators: `cls(cfg=available[name])`, the table a classmethod returns, read in `__init__`."""
    src = """\
        from dataclasses import dataclass
        from huggingface_hub import hf_hub_download

        @dataclass
        class SBDConfig:
            spe_filename: str
            hf_repo_id: str = None

        class SBDModel:
            def __init__(self, cfg: SBDConfig):
                self.spe = hf_hub_download(repo_id=cfg.hf_repo_id, filename=cfg.spe_filename)

            @classmethod
            def pretrained_model_info(cls):
                return {"multi": SBDConfig(hf_repo_id="org/sbd-multi", spe_filename="spe.model"),
                        "en": SBDConfig(hf_repo_id="org/sbd-en", spe_filename="spe.model")}

            @classmethod
            def from_pretrained(cls, name):
                available = cls.pretrained_model_info()
                return cls(cfg=available[name])
        """
    assert set(_ids(src)[11] or ()) == {"org/sbd-multi", "org/sbd-en"}


def test_a_class_chosen_by_the_key_that_picks_the_model_gets_only_its_entries() -> None:
    """pysentimiento: `if task == "ner": cls = TokenAnalyzer ... else: cls = SequenceAnalyzer`, then
    `cls.from_model_name(model_name=models[lang][task]["model_name"])`."""
    src = """\
        from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

        models = {
            "es": {"sentiment": {"model_name": "org/es-sentiment"}, "ner": {"model_name": "org/es-ner"}},
            "en": {"sentiment": {"model_name": "org/en-sentiment"}, "pos": {"model_name": "org/en-pos"}},
        }

        class SequenceAnalyzer:
            @classmethod
            def from_model_name(cls, model_name, task):
                return AutoModelForSequenceClassification.from_pretrained(model_name)

        class TokenAnalyzer:
            @classmethod
            def from_model_name(cls, model_name, task):
                return AutoModelForTokenClassification.from_pretrained(model_name)

        def create_analyzer(task=None, lang=None, model_name=None):
            if task == "ner":
                analyzer_class = TokenAnalyzer
            elif task == "pos":
                analyzer_class = TokenAnalyzer
            else:
                analyzer_class = SequenceAnalyzer
            if not model_name:
                model_info = models[lang][task]
                model_name = model_info["model_name"]
            return analyzer_class.from_model_name(model_name=model_name, task=task)
        """
    found = _ids(src)
    assert set(found[11] or ()) == {"org/es-sentiment", "org/en-sentiment"}
    assert set(found[16] or ()) == {"org/es-ner", "org/en-pos"}

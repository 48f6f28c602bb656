"""Scanner rules found missing or wrong on the real PyPI corpus (tests/scan/test_pypi_corpus.py),
each checked here on a small source of the same shape."""
from __future__ import annotations

import textwrap
from pathlib import Path

from ptmlock.scan.scanner import Finding, scan_paths, scan_source


def _scan(text: str) -> dict[int, Finding]:
    return {f.line: f for f in scan_source("m.py", textwrap.dedent(text))}


def test_branches_on_the_key_narrow_a_dicts_models() -> None:
    found = _scan("""\
        from transformers import AutoModelForCausalLM, BlipModel, Blip2Model, AutoProcessor
        MODELS = {"blip-base": "Salesforce/blip-base", "blip2-opt": "Salesforce/blip2-opt",
                  "blip2-t5": "Salesforce/blip2-t5", "git-large": "microsoft/git-large"}

        def load(cfg):
            path = MODELS[cfg.name]
            if cfg.name.startswith("git-"):
                m = AutoModelForCausalLM.from_pretrained(path)
            elif cfg.name in ("blip2-opt", "blip2-t5"):
                m = Blip2Model.from_pretrained(path)
            else:
                m = BlipModel.from_pretrained(path)
            if not cfg.name == "git-large":
                AutoProcessor.from_pretrained(path, revision="v1")
            return AutoProcessor.from_pretrained(path)
        """)
    assert found[8].model_ids == ("microsoft/git-large",)
    assert found[10].model_ids == ("Salesforce/blip2-opt", "Salesforce/blip2-t5")
    assert found[12].model_ids == ("Salesforce/blip-base",)
    assert found[14].model_ids == ("Salesforce/blip-base", "Salesforce/blip2-opt", "Salesforce/blip2-t5")
    assert len(found[15].model_ids or ()) == 4  # after the branches: every entry


def test_a_test_it_cannot_read_narrows_nothing() -> None:
    found = _scan("""\
        from transformers import AutoModel
        MODELS = {"a": "org/a", "b": "org/b"}

        def load(key, flag):
            path = MODELS[key]
            if flag and key.endswith("a"):
                return AutoModel.from_pretrained(path)
        """)
    assert found[7].model_ids == ("org/a", "org/b")


def test_torchvision_weights_passed_through_kwargs() -> None:
    found = _scan("""\
        import torchvision

        def _inception(*args, **kwargs):
            return torchvision.models.inception_v3(*args, **kwargs)

        def _plain(**kwargs):
            return torchvision.models.resnet18(**kwargs)

        pretrained = _inception(weights="DEFAULT")
        scratch = _inception(weights=None)
        random = _plain(num_classes=3)
        """)
    assert found[4].model_ids == ("https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",)
    assert 7 not in found  # no caller passes weights: random init, not a load


def test_from_pretrained_with_a_none_id_is_not_a_load() -> None:
    found = _scan("""\
        import transformers
        def build(cls_name, config, state_dict):
            cls = getattr(transformers, cls_name)
            return cls.from_pretrained(pretrained_model_name_or_path=None, config=config, state_dict=state_dict)
        """)
    assert found == {}


def test_static_embedding_from_model2vec_is_a_load_of_the_repo_as_named() -> None:
    found = _scan("""\
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.models import StaticEmbedding
        emb = StaticEmbedding.from_model2vec("minishlab/potion-base-8M")
        model = SentenceTransformer(modules=[emb])
        """)
    assert list(found) == [3]
    assert found[3].model_ids == ("minishlab/potion-base-8M",)
    assert found[3].library == "sentence_transformers"


def test_a_flag_among_guessed_attribute_values_keeps_the_load() -> None:
    """`config.labels_encoder` is guessed by attribute name: a `labels_encoder=False` parameter and
    `self.labels_encoder = Encoder(...)` elsewhere are not proof that the id is an object."""
    found = _scan("""\
        from transformers import AutoConfig

        class Encoder:
            def __init__(self, model_name, config, labels_encoder=False):
                self.config = AutoConfig.from_pretrained(model_name)

        class BiEncoder:
            def __init__(self, config):
                self.labels_encoder = Encoder(config.labels_encoder, config, True)
        """)
    assert found[5].model_ids is None  # a dynamic load, not dropped


def test_a_method_call_on_an_imported_class_is_not_a_call_site_of_a_local_method() -> None:
    """`AutoTokenizer.from_pretrained(model_dir)` (local) must not make a local class's own
    `from_pretrained(model_id)` look local: the snapshot_download it makes stays a load."""
    found = _scan("""\
        from pathlib import Path
        from huggingface_hub import snapshot_download
        from transformers import AutoTokenizer

        class Model:
            @classmethod
            def from_pretrained(cls, model_id):
                model_dir = Path(snapshot_download(repo_id=model_id))
                return AutoTokenizer.from_pretrained(model_dir)

        def tok(model_dir="./saved"):
            return AutoTokenizer.from_pretrained(model_dir)
        """)
    assert found[8].loader == "huggingface_hub.snapshot_download"
    assert found[8].model_ids is None


def test_a_class_whose_init_passes_its_parameter_to_a_loader_is_followed_across_modules(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "backend").mkdir(parents=True)
    (pkg / "backend" / "_st.py").write_text(textwrap.dedent("""\
        from sentence_transformers import SentenceTransformer

        class Backend:
            def __init__(self, embedding_model, batch_size=32):
                if isinstance(embedding_model, SentenceTransformer):
                    self.model = embedding_model
                elif isinstance(embedding_model, str):
                    self.model = SentenceTransformer(embedding_model)
        """))
    (pkg / "backend" / "_utils.py").write_text(textwrap.dedent("""\
        def select(language):
            from ._st import Backend
            if language == "english":
                return Backend("all-MiniLM-L6-v2")
            return Backend(embedding_model="paraphrase-multilingual-MiniLM-L12-v2")
        """))
    found = [f for f in scan_paths([str(tmp_path)], use_cache=False) if f.path.endswith("_utils.py")]
    assert [(f.line, f.model_ids) for f in found] == [
        (4, ("sentence-transformers/all-MiniLM-L6-v2",)),
        (5, ("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",)),
    ]
    assert {f.loader for f in found} == {"backend._st.Backend"}

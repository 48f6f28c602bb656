"""Pick the conformance suite's representatives from the enumeration and build their tiny repos.

Run as a script in its own interpreter: `python build_repos.py OUT_DIR`. It enumerates the
installed libraries (`enumerate_entry_points`), keeps, for every kind of transformers entry point,
the classes whose model type is one of the FAMILIES below (the tiny repos this suite can serve),
the first class of each family in name order, and writes

- OUT_DIR/selection.json: {"counts": ..., "selected": {kind: [{"name", "family", "default"}]},
  "families": [family, ...], "torch": bool};
- OUT_DIR/<family>/v<N>/...: the files of that family's repo at version N (1: locked, 2: upstream
  moved the refs, 3: another branch), written by the library's own `save_pretrained`. Every JSON
  file carries `"ptm_marker": "vN"` and every weight of a model equals N, so a load tells which
  commit's bytes it read.

Only tiny configurations are written here; which classes load them is the enumeration's choice.
Without torch the model kind is left out (the torch-free part: configs, tokenizers, processors...).
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # tests/
from enumerate_entry_points import enumerate_others, enumerate_transformers  # noqa: E402

VERSIONS = (1, 2, 3)
# the files whose keys transformers keeps as attributes (not vocabularies nor tokenizer.json)
MARKED = ("config.json", "tokenizer_config.json", "preprocessor_config.json", "video_preprocessor_config.json",
          "generation_config.json")
# The tiny repos: model type -> keyword arguments of its config (empty: the library's defaults,
# for families that serve no weights).
FAMILIES: dict[str, dict[str, object]] = {
    "bert": {"vocab_size": 16, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
             "intermediate_size": 16, "max_position_embeddings": 32},
    "gpt2": {"vocab_size": 48, "n_positions": 32, "n_embd": 16, "n_layer": 1, "n_head": 2},
    "whisper": {"vocab_size": 48, "d_model": 16, "encoder_layers": 1, "decoder_layers": 1,
                "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 16,
                "decoder_ffn_dim": 16, "max_source_positions": 16, "max_target_positions": 16,
                "pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0, "decoder_start_token_id": 1,
                "suppress_tokens": [], "begin_suppress_tokens": []},
    "clip": {}, "wav2vec2": {}, "audio-spectrogram-transformer": {}, "deit": {}, "videomae": {},
    "llava_onevision": {}, "qwen2_vl": {},
}
MODEL_FAMILIES = ("bert", "gpt2", "whisper")  # the ones with tiny weights
TOKENIZER_FAMILIES = ("bert", "gpt2", "whisper", "clip", "wav2vec2")  # the ones with a tiny vocabulary
PER_KIND = 4  # representatives per kind at most (one per family)
KINDS = ("config", "model", "tokenizer", "tokenizer-fast", "processor", "feature-extractor", "image-processor",
         "video-processor", "generation-config")
AUTO = ("AutoConfig", "AutoTokenizer", "AutoModel", "AutoProcessor", "AutoFeatureExtractor", "AutoImageProcessor")


def select(found: dict[str, list[dict[str, object]]], torch: bool) -> dict[str, list[dict[str, object]]]:
    selected: dict[str, list[dict[str, object]]] = {}
    for kind in KINDS:
        if kind == "model" and not torch:
            continue
        families = MODEL_FAMILIES if kind == "model" else TOKENIZER_FAMILIES if kind.startswith(
            ("tokenizer", "processor")) else tuple(FAMILIES)
        picked: dict[str, dict[str, object]] = {}
        for entry in found.get(kind, []):
            for family in entry["model_types"]:  # type: ignore[union-attr]
                if family in families and family not in picked and len(picked) < PER_KIND:  # name order:
                    # `CLIPImageProcessor` (torchvision) before `CLIPImageProcessorPil`, when both are there
                    picked[family] = {"name": entry["name"], "family": family, "default": entry["default"]}
                    break
        if kind == "generation-config":  # no model type: GenerationConfig itself, on each model family
            picked = {f: {"name": e["name"], "family": f, "default": e["default"]}
                      for e in found.get(kind, []) if e["name"] == "GenerationConfig" for f in ("whisper",)}
        selected[kind] = list(picked.values())
    autos = {str(e["name"]): e for e in found.get("auto", [])}
    selected["auto"] = [{"name": n, "family": f, "default": autos[n]["default"]} for n, f in
                        (("AutoConfig", "whisper"), ("AutoTokenizer", "bert"), ("AutoModel", "bert"),
                         ("AutoProcessor", "wav2vec2"), ("AutoFeatureExtractor", "whisper"),
                         ("AutoImageProcessor", "clip")) if n in autos and (torch or n != "AutoModel")]
    if torch:
        selected["pipeline"] = [{"name": "pipeline", "family": "bert", "default": found["pipeline"][0]["default"]}]
    return selected


# ---------------------------------------------------------------------------
# tiny files


def _tokenizer(family: str, tmp: Path):  # noqa: ANN202
    import transformers as T

    tmp.mkdir(parents=True, exist_ok=True)
    if family == "bert":
        vocab = tmp / "vocab.txt"
        vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "lock"]) + "\n")
        return T.BertTokenizer(vocab_file=str(vocab))
    if family == "wav2vec2":
        vocab = tmp / "vocab.json"
        vocab.write_text(json.dumps({"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "A": 5, "B": 6}))
        return T.Wav2Vec2CTCTokenizer(vocab_file=str(vocab))
    bpe = {"<|endoftext|>": 0, "<|startoftranscript|>": 1} if family != "clip" else \
        {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz":
        bpe[ch] = len(bpe)
        if family == "clip":
            bpe[ch + "</w>"] = len(bpe)
    vocab, merges = tmp / "vocab.json", tmp / "merges.txt"
    vocab.write_text(json.dumps(bpe))
    merges.write_text("#version: 0.2\n")
    cls = {"gpt2": T.GPT2Tokenizer, "whisper": T.WhisperTokenizer, "clip": T.CLIPTokenizer}[family]
    return cls(vocab_file=str(vocab), merges_file=str(merges))


def _class(name: str):  # noqa: ANN202
    import transformers

    return getattr(transformers, name)


def _build(family: str, kinds: dict[str, list[str]], version: int, out: Path, work: Path, torch: bool) -> None:
    import transformers as T
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    out.mkdir(parents=True, exist_ok=True)
    config = CONFIG_MAPPING[family](**FAMILIES[family])
    config.save_pretrained(out)
    if family in MODEL_FAMILIES and torch:
        import torch as th
        from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

        model = getattr(T, MODEL_MAPPING_NAMES[family])(config)
        with th.no_grad():
            for p in model.parameters():
                p.fill_(float(version))
        model.save_pretrained(out)
    if family in MODEL_FAMILIES:  # GenerationConfig needs no torch (the 4.x venv has none)
        T.GenerationConfig().save_pretrained(out)
    tokenizer = _tokenizer(family, work / f"{family}-{version}-tok") if family in TOKENIZER_FAMILIES else None
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    for kind in ("feature-extractor", "image-processor", "video-processor"):
        for name in kinds.get(kind, []):
            _class(name)().save_pretrained(out)
    for name in kinds.get("processor", []):
        cls = _class(name)
        attributes = cls.get_attributes() if hasattr(cls, "get_attributes") else cls.attributes
        parts = {}
        for attribute in attributes:
            if attribute == "tokenizer":
                parts[attribute] = tokenizer
            else:
                kind = attribute.replace("_", "-")
                parts[attribute] = _class(kinds[kind][0])() if kinds.get(kind) else None
        cls(**parts).save_pretrained(out)
    for path in out.rglob("*.json"):
        data = json.loads(path.read_text())
        if path.name in MARKED:
            data["ptm_marker"] = f"v{version}"
        elif path.name == "processor_config.json":  # transformers 5 keeps the processor's parts in it
            for part in data.values():
                if isinstance(part, dict):
                    part["ptm_marker"] = f"v{version}"
        path.write_text(json.dumps(data, indent=1))


# The other libraries: (kind, entry point, the tinymodels builder of its repo, module it needs);
# their builders write every weight they read back as the version. Their revision defaults are None.
OTHERS = (("sentence-transformers", "SentenceTransformer", "st", "sentence_transformers"),
          ("diffusers", "DiffusionPipeline", "ddpm", "diffusers"),
          ("timm", "create_model", "timm", "timm"),  # the revision is part of the name: hf-hub:org/m@rev
          ("open_clip", "create_model", "clip", "open_clip"))  # no revision at all


def _others(out: Path, torch: bool) -> dict[str, list[dict[str, object]]]:
    import tinymodels

    selected: dict[str, list[dict[str, object]]] = {}
    for kind, name, builder, module in OTHERS:
        if not torch or importlib.util.find_spec(module) is None:
            continue
        family = f"{builder}-lib"
        for version in VERSIONS:
            target = out / family / f"v{version}"
            for path, data in tinymodels.BUILDERS[builder](out / "work" / f"{family}-{version}", float(version)).items():
                (target / path).parent.mkdir(parents=True, exist_ok=True)
                (target / path).write_bytes(data)
        selected[kind] = [{"name": name, "family": family, "default": None}]
    return selected


def main(out_dir: str) -> None:
    warnings.simplefilter("ignore")
    out = Path(out_dir)
    torch = importlib.util.find_spec("torch") is not None
    found = enumerate_transformers()
    selected = select(found, torch)
    counts = {"transformers": {k: len(v) for k, v in found.items()}, **enumerate_others()}
    others = _others(out, torch)
    families = sorted({str(e["family"]) for entries in selected.values() for e in entries})
    # what each family's repo must hold for the classes chosen on it (a processor's parts too)
    for family in families:
        kinds: dict[str, list[str]] = {}
        for kind, entries in selected.items():
            kinds[kind] = [str(e["name"]) for e in entries if e["family"] == family and kind != "auto"]
        for kind in ("feature-extractor", "image-processor"):  # a processor's parts come from the enumeration too
            if kinds.get("processor") and not kinds.get(kind):
                kinds[kind] = [str(e["name"]) for e in found.get(kind, []) if family in e["model_types"]][:1]  # type: ignore[operator]
        for version in VERSIONS:
            _build(family, kinds, version, out / family / f"v{version}", out / "work", torch)
    selected.update(others)
    families += sorted(str(e[0]["family"]) for e in others.values())
    (out / "selection.json").write_text(json.dumps({"counts": counts, "selected": selected, "families": families,
                                                     "torch": torch}, indent=1, default=str))


if __name__ == "__main__":
    main(sys.argv[1])

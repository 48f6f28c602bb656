"""Tiny real models for the guard tests, generated with the libraries themselves (CPU, seconds).

Each builder returns `{relative path: bytes}` as `save_pretrained` (or the library's own saver)
wrote it, ready for `hub.commit(repo, files)`. `version` is written into a weight the tests read
back (a bias filled with the value), so a test can tell which commit's bytes a program loaded.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "model", "lock", "pin", "the", "a"]


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _bert(version: float):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64)
    model = BertModel(config)
    with torch.no_grad():
        model.embeddings.LayerNorm.bias.fill_(version)
    return model


def bert_files(tmp: Path, version: float) -> dict[str, bytes]:
    """A 2-layer BERT (hidden size 32) and its WordPiece tokenizer; `embeddings.LayerNorm.bias` = version."""
    from transformers import BertTokenizer

    out = tmp / f"bert-{version}"
    out.mkdir(parents=True)
    _bert(version).save_pretrained(out)
    vocab = tmp / f"vocab-{version}.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    BertTokenizer(vocab_file=str(vocab)).save_pretrained(out)
    return _read_tree(out)


def sentence_transformer_files(tmp: Path, version: float) -> dict[str, bytes]:
    """A sentence-transformers model (Transformer + mean Pooling, with modules.json) on the tiny BERT."""
    from sentence_transformers import SentenceTransformer, models

    bert_dir = tmp / f"st-bert-{version}"
    bert_dir.mkdir(parents=True)
    for path, data in bert_files(tmp / f"st-src-{version}", version).items():
        (bert_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (bert_dir / path).write_bytes(data)
    word = models.Transformer(str(bert_dir))
    model = SentenceTransformer(modules=[word, models.Pooling(word.get_embedding_dimension())], device="cpu")
    out = tmp / f"st-{version}"
    model.save_pretrained(str(out))
    return _read_tree(out)


def diffusers_pipeline_files(tmp: Path, version: float) -> dict[str, bytes]:
    """A DDPM pipeline with a tiny UNet2DModel (8x8, 1 channel); `unet.conv_out.bias` = version."""
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 8),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    with torch.no_grad():
        unet.conv_out.bias.fill_(version)
    out = tmp / f"ddpm-{version}"
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(out)
    return _read_tree(out)


def timm_files(tmp: Path, version: float) -> dict[str, bytes]:
    """timm's `test_resnet` as `push_to_hf_hub` lays it out (config.json + model.safetensors);
    the classifier bias = version."""
    import timm
    import torch
    from timm.models import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=3)
    with torch.no_grad():
        model.get_classifier().bias.fill_(version)
    out = tmp / f"timm-{version}"
    out.mkdir(parents=True)
    save_for_hf(model, out, safe_serialization=True)
    return _read_tree(out)


def lora_files(tmp: Path, version: float, base_model_id: str) -> dict[str, bytes]:
    """A peft LoRA adapter (r=2 on query/value) for the tiny BERT; every `lora_B` weight = version."""
    import torch
    from peft import LoraConfig, get_peft_model

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = get_peft_model(_bert(1.0), LoraConfig(r=2, lora_alpha=4, target_modules=["query", "value"]))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.fill_(version)
    out = tmp / f"lora-{version}"
    model.save_pretrained(out)
    config = json.loads((out / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base_model_id
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2))
    return _read_tree(out)


def open_clip_files(tmp: Path, version: float) -> dict[str, bytes]:
    """A tiny open_clip CLIP (1-layer ViT and text tower) as `hf-hub:` repos hold it:
    open_clip_config.json + open_clip_model.safetensors; `logit_bias`-free, `text_projection`
    filled with version."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    model_cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
    }
    torch.manual_seed(0)
    model = open_clip.CLIP(**model_cfg)
    with torch.no_grad():
        model.text_projection.fill_(version)
    out = tmp / f"clip-{version}"
    out.mkdir(parents=True)
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))
    return _read_tree(out)


HUBCONF = '''dependencies = ["torch"]

VERSION = {version!r}


def tiny(**kwargs):
    """A 2x2 linear layer whose bias is VERSION."""
    import torch

    layer = torch.nn.Linear(2, 2)
    with torch.no_grad():
        layer.bias.fill_(VERSION)
    return layer
'''


def torchhub_commit(repo: Path, version: float) -> str:
    """Commit a hubconf.py (entry point `tiny`, bias = version) to the git repo at `repo`; return its sha."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "hubconf.py").write_text(HUBCONF.format(version=version))
    env = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", *env, "-C", str(repo), "add", "hubconf.py"], check=True)
    subprocess.run(["git", *env, "-C", str(repo), "commit", "-q", "-m", f"v{version}"], check=True)
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


# ---------------------------------------------------------------------------
# shared by the guard tests: the session's models, projects and guarded programs

import os  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import pytest  # noqa: E402

BUILDERS = {
    "bert": bert_files,
    "st": sentence_transformer_files,
    "ddpm": diffusers_pipeline_files,
    "timm": timm_files,
    "clip": open_clip_files,
}


class TinyModels:
    """Builds each (kind, version) once per session and keeps the bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[tuple[str, float, str], dict[str, bytes]] = {}

    def files(self, kind: str, version: float, base: str = "") -> dict[str, bytes]:
        key = (kind, version, base)
        if key not in self._cache:
            where = self.root / f"{kind}-{version}-{len(self._cache)}"
            if kind == "lora":
                self._cache[key] = lora_files(where, version, base)
            else:
                self._cache[key] = BUILDERS[kind](where, version)
        return self._cache[key]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModels:
    """The session's tiny models: `tiny.files("bert", 1.0)` -> {path: bytes}."""
    return TinyModels(tmp_path_factory.mktemp("tinymodels"))


def write_project(project: Path, models: dict[str, dict], *, policy: str | None = None, roles: str = "") -> None:
    """Write ptm.toml declaring `models` ({id: {revision/role/hub/type: ...}}) and lock it with the real CLI."""
    import json

    from ptmlock.cli import main

    lines = ["[project]", 'name = "app"'] + ([f'policy = "{policy}"'] if policy else [])
    for model_id, fields in models.items():
        lines.append(f'\n[models."{model_id}"]')
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in fields.items())
    (project / "ptm.toml").write_text("\n".join(lines) + "\n" + roles)
    cwd = os.getcwd()
    os.chdir(project)
    try:
        assert main(["lock"]) == 0
    finally:
        os.chdir(cwd)


def clean_environ() -> dict[str, str]:
    """os.environ without ptmlock, Hugging Face and token settings (for fixtures wider than one test,
    which run before the per-test isolation)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PTMLOCK_", "HF_", "HUGGING"))}


def run_app(project: Path, source: str, *, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
            timeout: float = 300, base: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `source` as project/app.py in a fresh interpreter (cwd = project), the way a user would;
    its environment is `base` (default: os.environ) updated with `env`."""
    (project / "app.py").write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, "app.py", *args], cwd=project, capture_output=True, text=True,
                          env={**(os.environ if base is None else base), **(env or {})}, timeout=timeout)


def last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    """The JSON value the app printed last on stdout (fails with its stderr when there is none)."""
    import json

    lines = [line for line in proc.stdout.splitlines() if line.startswith(("{", "["))]
    assert lines, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return json.loads(lines[-1])


def point_huggingface_hub_at(monkeypatch: Any, endpoint: str) -> None:
    """Point huggingface_hub in this process (and the subprocesses it starts) at `endpoint`.

    huggingface_hub reads HF_ENDPOINT once, at import, into `constants`; 0.x also copies the
    URL template into `file_download`."""
    import importlib

    from huggingface_hub import constants

    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    file_download = importlib.import_module("huggingface_hub.file_download")
    if hasattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE"):
        monkeypatch.setattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template)

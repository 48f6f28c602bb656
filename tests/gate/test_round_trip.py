"""The adoption round trip on real-style code: `init --from-code .`, `lock`, `sync`, then the
unchanged program under `PTMLOCK_MODE=strict`, with zero refusals and the locked bytes loaded.

Each application names its model the way real code does (a timm architecture, a
sentence-transformers short name, a task-default pipeline, a torchvision weights enum, a legacy
transformers id, a PEFT adapter, a torch.hub entry point); the local hub holds stand-in repos named exactly as the real
ones (tiny weights of the same architecture), torchvision's weight URL is served by a local HTTP
server through `PTMLOCK_URL_MIRROR`, the torch.hub repo by a local git server through
`PTMLOCK_TORCHHUB_URL`. After locking, upstream moves (a new commit on the branch,
new bytes at the URL): the program must still load the locked bytes, which carry `1.0`.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from gitupstream import Upstream as GitUpstream
from lockhelpers import PY
from ptmlock.testing._static import StaticServer
from tinymodels import bert_files, last_json, lora_files, sentence_transformer_files

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _timm_default(tmp: Path, version: float) -> dict[str, bytes]:
    """timm's `test_resnet` with its registry's default head, as `push_to_hf_hub` lays it out."""
    import timm
    import torch
    from timm.models import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False)
    with torch.no_grad():
        model.get_classifier().bias.fill_(version)
    tmp.mkdir(parents=True)
    save_for_hf(model, tmp, safe_serialization=True)
    return {p.name: p.read_bytes() for p in tmp.iterdir()}


def _text_classifier(tmp: Path, version: float) -> dict[str, bytes]:
    """A 2-label BertForSequenceClassification on the tiny BERT, with its tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    files = bert_files(tmp / "base", version)
    config = BertConfig(**{k: v for k, v in json.loads(files["config.json"]).items()
                           if k not in ("architectures", "transformers_version")})
    config.num_labels = 2
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.bert.embeddings.LayerNorm.bias.fill_(version)
    out = tmp / "clf"
    model.save_pretrained(out)
    return {**{k: v for k, v in files.items() if k not in ("config.json", "model.safetensors")},
            **{p.name: p.read_bytes() for p in out.iterdir()}}


def _squeezenet(version: float) -> bytes:
    import torch
    from torchvision.models import squeezenet1_1

    torch.manual_seed(0)
    model = squeezenet1_1()
    with torch.no_grad():
        model.classifier[1].bias.fill_(version)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def _pe_core_tiny() -> dict[str, bytes]:
    """open_clip's PE-Core-T-16-384 (the smallest model with a pretrained tag: 70 M parameters),
    randomly initialised, stored in half precision with `logit_scale` = 1.0."""
    import open_clip
    import torch
    from safetensors.torch import save

    torch.manual_seed(0)
    model = open_clip.create_model("PE-Core-T-16-384", pretrained=None)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    state["logit_scale"] = torch.tensor(1.0, dtype=torch.float16)
    return {"open_clip_model.safetensors": save(state)}


VALUE = "print(json.dumps({{\"value\": {value}}}))"
APPS = {
    "timm": ("import json, timm\nm = timm.create_model('test_resnet', pretrained=True)\n",
             "m.get_classifier().bias[0].item()"),
    "sentence-transformers": ("import json\nfrom sentence_transformers import SentenceTransformer\n"
                              "m = SentenceTransformer('all-MiniLM-L6-v2', device='cpu')\n",
                              "m[0].auto_model.embeddings.LayerNorm.bias[0].item()"),
    "pipeline": ("import json\nfrom transformers import pipeline\nclf = pipeline('sentiment-analysis')\n",
                 "clf.model.bert.embeddings.LayerNorm.bias[0].item()"),
    "torchvision": ("import json\nfrom torchvision.models import squeezenet1_1, SqueezeNet1_1_Weights\n"
                    "m = squeezenet1_1(weights=SqueezeNet1_1_Weights.IMAGENET1K_V1)\n",
                    "m.classifier[1].bias[0].item()"),
    "transformers": ("import json\nfrom transformers import AutoModel, AutoTokenizer\n"
                     "tok = AutoTokenizer.from_pretrained('bert-base-uncased')\n"
                     "m = AutoModel.from_pretrained('bert-base-uncased')\n",
                     "m.embeddings.LayerNorm.bias[0].item()"),
    "open_clip": ("import json, open_clip\n"
                  "m, _, preprocess = open_clip.create_model_and_transforms('PE-Core-T-16-384', pretrained='meta')\n",
                  "m.logit_scale.item()"),
    "torch.hub": ("import json, torch\n"
                  "m = torch.hub.load('owner/tiny', 'tiny', trust_repo=True, skip_validation=True)\n",
                  "m.bias[0].item()"),
    "peft": ("import json\nfrom transformers import AutoModel\nfrom peft import PeftModel\n"
             "base = AutoModel.from_pretrained('org/tiny-base')\n"
             "m = PeftModel.from_pretrained(base, 'org/tiny-lora')\n",
             "[p for n, p in m.named_parameters() if 'lora_B' in n][0].flatten()[0].item()"),
}
URL = "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"
TASK_REPO = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"


class Upstream:
    """The stand-in repos and files, as each library will ask for them; `publish(v)` makes
    version `v` current (a new commit on the followed branch, new bytes at the URL)."""

    def __init__(self, hub, static: StaticServer, tmp: Path, lib: str) -> None:
        self.hub, self.static, self.tmp, self.lib = hub, static, tmp, lib
        self.git = GitUpstream(tmp, static)

    def publish(self, version: float) -> None:
        tmp = self.tmp / f"v{version}"
        if self.lib == "timm":
            self.hub.commit("timm/test_resnet.r160_in1k", _timm_default(tmp, version))
        elif self.lib == "sentence-transformers":
            self.hub.commit("sentence-transformers/all-MiniLM-L6-v2", sentence_transformer_files(tmp, version))
        elif self.lib == "pipeline":
            # transformers pins the task default at revision 714eb0f; the stand-in can't have that commit,
            # so a branch of that name plays it (and moves, to show the lock holds)
            sha = self.hub.commit(TASK_REPO, _text_classifier(tmp, version))
            if version == 1.0:
                self.hub.create_branch(TASK_REPO, "714eb0f", revision=sha)
            else:
                self.hub.move_branch(TASK_REPO, "714eb0f", sha)
        elif self.lib == "torchvision":
            path = self.static.root / "pytorch" / "models" / "squeezenet1_1-b8a52dc0.pth"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_squeezenet(version))
        elif self.lib == "transformers":
            self.hub.commit("google-bert/bert-base-uncased", bert_files(tmp, version))
            if version == 1.0:
                self.hub.rename("bert-base-uncased", "google-bert/bert-base-uncased")  # the Hub's redirect
        elif self.lib == "open_clip":
            if version == 1.0:
                self.hub.commit("timm/PE-Core-T-16-384", _pe_core_tiny())
            else:  # a moved main without the weights: loading it, rather than the pin, would fail
                self.hub.commit("timm/PE-Core-T-16-384", {"README.md": "moved\n"},
                                delete=["open_clip_model.safetensors"])
        elif self.lib == "torch.hub":
            self.git.commit("owner/tiny", version)
        elif self.lib == "peft":
            self.hub.commit("org/tiny-base", bert_files(tmp, 1.0))
            self.hub.commit("org/tiny-lora", lora_files(tmp, version, "org/tiny-base"))


EXPECTED_IDS = {
    "timm": ['[models."timm/test_resnet.r160_in1k"]'],
    "sentence-transformers": ['[models."sentence-transformers/all-MiniLM-L6-v2"]'],
    "pipeline": [f'[models."{TASK_REPO}"]\nrevision = "714eb0f"'],
    "torchvision": [f'[models."{URL}"]\nhub = "url"'],
    "transformers": ['[models."google-bert/bert-base-uncased"]'],
    "peft": ['[models."org/tiny-base"]', '[models."org/tiny-lora"]'],
    "torch.hub": ['[models."owner/tiny"]\nhub = "torchhub"'],
    "open_clip": ['[models."timm/PE-Core-T-16-384"]'],
}


def _cli(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.mark.parametrize("lib", sorted(APPS))
def test_init_lock_sync_then_strict_run_loads_the_locked_bytes(hub, project, tmp_path, lib):
    code, value = APPS[lib]
    with StaticServer(tmp_path / "srv") as static:
        env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "PTMLOCK_TORCHHUB_URL": static.url,
               "PTMLOCK_URL_MIRROR": f"https://download.pytorch.org={static.url}/pytorch"}
        upstream = Upstream(hub, static, tmp_path / "models", lib)
        upstream.publish(1.0)
        (project / "app.py").write_text(code + VALUE.format(value=value) + "\n")

        r = _cli(project, "init", "--from-code", ".", env=env)
        assert r.returncode == 0, r.stderr
        manifest = (project / "ptm.toml").read_text()
        for entry in EXPECTED_IDS[lib]:
            assert entry in manifest, manifest
        for step in (("lock",), ("sync",)):
            r = _cli(project, *step, env=env)
            assert r.returncode == 0, f"{step}: {r.stderr}"
        assert _cli(project, "verify", env=env).returncode == 0

        upstream.publish(2.0)  # upstream moves after locking
        run_env = {k: v for k, v in env.items() if k != "PTMLOCK_URL_MIRROR"}
        proc = _cli(project, "run", "--mode", "strict", "--", PY, "app.py", env=run_env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert last_json(proc)["value"] == pytest.approx(1.0), proc.stderr[-3000:]
        assert "refused" not in proc.stderr and "PtmlockWarning" not in proc.stderr, proc.stderr

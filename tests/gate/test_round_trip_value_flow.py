"""Issue 26 round trip: an app whose model ids live where real code keeps them (a dataclass config
read as `self.cfg.x`, an argparse default read as `args.x`) and whose weights come through a vendored
torch.hub repo (`torch.hub.load(dir, entry, source="local")`, the hubconf fetching a URL) goes
through `init --from-code .`, `lock`, then a strict run with zero refusals."""
from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from lockhelpers import PY
from ptmlock.testing._static import StaticServer
from tinymodels import bert_files, last_json

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

URL = "https://download.pytorch.org/models/tinynet-0123abcd.pth"
APP = textwrap.dedent("""\
    import argparse, json
    from dataclasses import dataclass, field
    import torch
    from transformers import AutoModel, AutoTokenizer

    @dataclass
    class ModelConfig:
        encoder: str = field(default="org/dc-encoder")
        max_length: int = 16

    class Embedder:
        def __init__(self, cfg: ModelConfig):
            self.cfg = cfg
            self.model = AutoModel.from_pretrained(self.cfg.encoder)

    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", default="org/arg-tokenizer")
    args = parser.parse_args()
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    emb = Embedder(ModelConfig())
    head = torch.hub.load("third_party/tinynet", "tinynet", source="local")
    print(json.dumps({"value": emb.model.embeddings.LayerNorm.bias[0].item(), "head": head.bias[0].item(),
                      "vocab": len(tok)}))
    """)
HUBCONF = textwrap.dedent(f"""\
    import torch
    dependencies = ["torch"]
    _URL = "{URL}"

    def tinynet(pretrained=True):
        model = torch.nn.Linear(2, 2)
        if pretrained:
            model.load_state_dict(torch.hub.load_state_dict_from_url(_URL, map_location="cpu", progress=False))
        return model
    """)


def _cli(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env=env, timeout=600)


def test_dataclass_argparse_and_vendored_hubconf_round_trip_strict(hub, project, tmp_path):
    import io

    import torch

    hub.commit("org/dc-encoder", bert_files(tmp_path / "enc", 1.0))
    hub.commit("org/arg-tokenizer", bert_files(tmp_path / "tok", 1.0))
    with StaticServer(tmp_path / "srv") as static:
        linear = torch.nn.Linear(2, 2)
        with torch.no_grad():
            linear.bias.fill_(1.0)
        buf = io.BytesIO()
        torch.save(linear.state_dict(), buf)
        weights = static.root / "pytorch" / "models" / URL.rsplit("/", 1)[-1]
        weights.parent.mkdir(parents=True, exist_ok=True)
        weights.write_bytes(buf.getvalue())
        env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"),
               "PTMLOCK_URL_MIRROR": f"https://download.pytorch.org={static.url}/pytorch"}
        (project / "third_party" / "tinynet").mkdir(parents=True)
        (project / "third_party" / "tinynet" / "hubconf.py").write_text(HUBCONF)
        (project / "app.py").write_text(APP)

        r = _cli(project, "init", "--from-code", ".", env=env)
        assert r.returncode == 0, r.stderr
        manifest = (project / "ptm.toml").read_text()
        for entry in ('[models."org/dc-encoder"]', '[models."org/arg-tokenizer"]', f'[models."{URL}"]\nhub = "url"'):
            assert entry in manifest, manifest
        r = _cli(project, "lock", env=env)
        assert r.returncode == 0, r.stderr
        proc = _cli(project, "run", "--mode", "strict", "--", PY, "app.py", env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = last_json(proc)
        assert out["value"] == pytest.approx(1.0) and out["head"] == pytest.approx(1.0), proc.stderr[-3000:]
        assert "refused" not in proc.stderr and "PtmlockWarning" not in proc.stderr, proc.stderr[-3000:]

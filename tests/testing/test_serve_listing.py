"""`python -m ptmlock.testing serve --demo` says what it serves, and answers `GET /api/models`
(`HfApi.list_models`) as the Hub does (issue 24: it printed only endpoint= and root=, and
/api/models was Not Found)."""
from __future__ import annotations

import subprocess
import sys

from huggingface_hub import HfApi

from ptmlock.testing import LocalHub, populate_demo


def test_serve_demo_prints_every_repo_with_its_commit(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "ptmlock.testing", "serve", "--root", str(tmp_path / "hub"),
                             "--demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(6)]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert lines[0].startswith("endpoint=http://127.0.0.1:") and lines[1].startswith("root="), (lines, err)
    with LocalHub(tmp_path / "hub") as hub:  # the same root: the same commits
        want = [f"model={repo} main={hub.resolve(repo)[:12]}"
                for repo in ("demo/tiny-bert", "demo/tiny-roberta", "demo/tiny-whisper")]
        want.append(f"dataset=demo/tiny-dataset main={hub.resolve('demo/tiny-dataset', repo_type='dataset')[:12]}")
    assert lines[2:] == want, err
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_list_models_and_datasets_answer_like_the_hub(tmp_path):
    with LocalHub(tmp_path / "hub") as hub:
        shas = populate_demo(hub)
        hub.commit("org/secret", {"config.json": b"{}"})
        hub.set_private("org/secret")
        api = HfApi(endpoint=hub.endpoint)
        models = list(api.list_models())
        assert [m.id for m in models] == ["demo/tiny-bert", "demo/tiny-roberta", "demo/tiny-whisper"]
        assert models[0].sha == shas["demo/tiny-bert"] and models[0].library_name == "transformers"
        assert models[0].pipeline_tag == "fill-mask"
        assert [m.id for m in api.list_models(search="ROBERTA")] == ["demo/tiny-roberta"]
        assert [m.id for m in api.list_models(author="org")] == []  # private: not listed anonymously
        assert [m.id for m in api.list_models(limit=1)] == ["demo/tiny-bert"]
        assert [d.id for d in api.list_datasets()] == ["demo/tiny-dataset"]
        hub.tokens.add("hf_t")
        assert [m.id for m in HfApi(endpoint=hub.endpoint, token="hf_t").list_models(author="org")] == ["org/secret"]

"""The guarded program of the conformance suite: runs many cells in one interpreter.

`python program.py CASES.json OUT.json` (cwd: the project, so the guard finds its ptm.lock; the
environment says the mode, the report file and whether the hub is offline). Each case is
{"id", "kind", "name", "repo", "revision", "omit"}; for each, the program makes the call the way a
user would (no revision argument at all when "omit"), and writes {id: {"reads": marker or
"refused" or "missing" (the library failed: nothing of that repo was read), "warnings": [...], "error": str, "verdicts": [...]}}.
"""
import ptmlock.enforce  # noqa: I001  (first, as the docs say)

import json
import os
import sys
import time
import warnings


def _kw(case):
    return {} if case["omit"] else {"revision": case["revision"]}


def _marker_of_model(model):
    return "v%d" % int(next(model.base_model.parameters()).flatten()[0].item())


def _transformers(case):
    import transformers

    name, repo, kind = case["name"], case["repo"], case["kind"]
    if kind == "pipeline":
        return _marker_of_model(transformers.pipeline("feature-extraction", model=repo, **_kw(case)).model)
    loaded = getattr(transformers, name).from_pretrained(repo, **_kw(case))
    if kind == "model" or name == "AutoModel":
        return _marker_of_model(loaded)
    if kind.startswith("tokenizer") or name == "AutoTokenizer":
        return loaded.init_kwargs["ptm_marker"]
    if kind == "processor" or name == "AutoProcessor":
        return loaded.tokenizer.init_kwargs["ptm_marker"]
    return loaded.ptm_marker


def _hub(case):
    import huggingface_hub as hh

    repo, kind = case["repo"], case["name"]
    if kind == "hf_hub_download":
        return json.load(open(hh.hf_hub_download(repo, "config.json", **_kw(case))))["ptm_marker"]
    if kind == "snapshot_download":
        return json.load(open(os.path.join(hh.snapshot_download(repo, **_kw(case)), "config.json")))["ptm_marker"]
    if kind == "HfFileSystem":
        fs = hh.HfFileSystem()
        if case["omit"] or case["revision"] is None:
            return json.loads(fs.read_text(f"{repo}/config.json", **_kw(case)))["ptm_marker"]
        return json.loads(fs.read_text(f"{repo}@{case['revision']}/config.json"))["ptm_marker"]
    if kind == "model_info":
        return "sha:" + hh.HfApi().model_info(repo, **_kw(case)).sha
    if kind == "get_paths_info":
        return "blob:" + hh.HfApi().get_paths_info(repo, ["config.json"], **_kw(case))[0].blob_id
    raise ValueError(kind)


def _datasets(case):
    import datasets

    return datasets.load_dataset(case["repo"], split="train", **_kw(case))[0]["marker"]


def _others(case):
    repo, kind = case["repo"], case["kind"]
    if kind == "sentence-transformers":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(repo, device="cpu", **_kw(case))
        return "v%d" % int(model[0].auto_model.embeddings.LayerNorm.bias[0].item())
    if kind == "diffusers":
        from diffusers import DiffusionPipeline

        return "v%d" % int(DiffusionPipeline.from_pretrained(repo, **_kw(case)).unet.conv_out.bias[0].item())
    if kind == "timm":
        import timm

        name = "hf-hub:" + repo + ("" if case["omit"] else "@" + case["revision"])
        return "v%d" % int(timm.create_model(name, pretrained=True).get_classifier().bias[0].item())
    if kind == "open_clip":
        import open_clip

        return "v%d" % int(open_clip.create_model("hf-hub:" + repo).text_projection[0, 0].item())
    raise ValueError(kind)


LIBRARIES = {"transformers": _transformers, "huggingface_hub": _hub, "datasets": _datasets, "others": _others}


def main(cases_path, out_path):
    cases = json.load(open(cases_path))
    report = os.environ.get("PTMLOCK_REPORT")
    out = {}
    for case in cases:
        seen = os.path.getsize(report) if report and os.path.exists(report) else 0
        result = {"warnings": []}
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result["reads"] = LIBRARIES[case["library"]](case)
            except ptmlock.enforce.GuardError as e:
                result["reads"], result["error"] = "refused", str(e)
            except Exception as e:  # noqa: BLE001  (the library's own failure: offline, the files are not cached)
                # (transformers' tokenizers may build an object without them instead: no marker either)
                result["reads"], result["error"] = "missing", f"{type(e).__name__}: {e}"[:500]
        result["warnings"] = [str(w.message) for w in caught if w.category is ptmlock.enforce.PtmlockWarning]
        if report and os.path.exists(report):
            with open(report, "rb") as f:
                f.seek(seen)
                records = [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]
            result["verdicts"] = sorted({r["verdict"] for r in records if r.get("event") == "load"})
        result["seconds"] = round(time.perf_counter() - started, 4)
        out[case["id"]] = result
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

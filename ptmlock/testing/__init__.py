"""A real local Hugging Face compatible hub, for tests, demos and benchmarks.

`LocalHub` serves model and dataset repos stored as bare git repositories under a root folder,
over real HTTP on 127.0.0.1, well enough that the unmodified huggingface_hub client works
against it: repo info (with file metadata), downloads (HEAD then GET, Range resume), tree
listings with pagination, paths-info, refs, commits, and the Hub's error codes. Faults
(statuses, delays, rewritten JSON, corrupt or cut bodies) are injected at the server, and every
request is recorded. Public API for users' own tests: it may import nothing else of ptmlock
and no ML library (a plain `pip install ptmlock` runs it), and nothing in ptmlock imports it.

    from huggingface_hub import HfApi, hf_hub_download
    from ptmlock.testing import Fault, LocalHub

    with LocalHub(tmp_path / "hub") as hub:
        sha = hub.commit("org/tiny", {"config.json": b"{}", "model.safetensors": weights})
        info = HfApi(endpoint=hub.endpoint).model_info("org/tiny", files_metadata=True)
        assert info.sha == sha
        hub.add_fault(Fault(match=r"GET /api/models/org/tiny", status=503, times=1))

From a shell: `python -m ptmlock.testing serve --demo` prints `endpoint=...` and serves tiny
generated demo repos until interrupted; `python -m ptmlock.testing commit|branch|tag --root DIR`
changes a running hub (see `__main__`).
"""
from __future__ import annotations

from ptmlock.testing._demo import populate_demo
from ptmlock.testing._faults import Fault, RecordedRequest
from ptmlock.testing._local import LocalHub

__all__ = ["Fault", "LocalHub", "RecordedRequest", "populate_demo"]

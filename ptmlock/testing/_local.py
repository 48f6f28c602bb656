"""`LocalHub`: the `HubStore` behind a local Hugging Face compatible server on 127.0.0.1."""
from __future__ import annotations

import os

from ptmlock.testing._hub import HubStore
from ptmlock.testing._lifecycle import Serving
from ptmlock.testing._server import start_server, stop_server


class LocalHub(HubStore, Serving):
    """A Hugging Face compatible hub on 127.0.0.1, serving git repositories stored under `root`.

    The real huggingface_hub client works against it unmodified (`HF_ENDPOINT=hub.endpoint` or
    `HfApi(endpoint=hub.endpoint)`): repo info, file downloads with resume, tree listings,
    paths-info, refs and commits, with the hub's error codes. Repos persist under `root` and a
    new `LocalHub` on the same root serves them again.

    Example:
        ```python
        with LocalHub(tmp_path / "hub") as hub:
            sha = hub.commit("org/tiny", {"config.json": b"{}"})
            HfApi(endpoint=hub.endpoint).model_info("org/tiny").sha == sha
        ```

    Attributes:
        tokens: the valid access tokens (a set). Private repos need one; gated repos need one to download.
        latency: seconds added to every request.
        tree_page_size: entries per page of a tree listing (50 at most when `expand=True`, as on the Hub).
        commits_page_size: entries per page of a commits listing.
        mirror_mode: `"full"`, or `"partial"` to answer repo info with bare `rfilename` siblings
            (no size, blob id or LFS), like some mirrors; tree listings stay complete.
        server_errors: tracebacks of requests that crashed the handler (answered with 500).
    """

    def __init__(self, root: str | os.PathLike[str], *, port: int = 0) -> None:
        super().__init__(root, port=port)

    def start(self) -> LocalHub:
        """Start serving on 127.0.0.1 (an ephemeral port unless `port` was given); returns self."""
        if self._server is None:
            self._server, self._thread = start_server(self, self.port)
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections. Repos stay on disk."""
        if self._server is not None:
            stop_server(self._server)
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

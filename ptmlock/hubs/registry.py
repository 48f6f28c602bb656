"""Which backend answers for which hub: the one list to extend when a hub is added."""
from __future__ import annotations

from ptmlock.constants import HUB_HUGGINGFACE, HUB_TORCHHUB, HUB_URL
from ptmlock.errors import ManifestError
from ptmlock.hubs.base import Backend, HeadBackend


def default_backend(hub: str) -> Backend:
    """The backend that resolves models of `hub` (imported only when asked for).

    Raises:
        ManifestError: the hub has no resolver in this version.
    """
    if hub == HUB_HUGGINGFACE:
        from ptmlock.hubs.huggingface import HuggingFaceBackend

        return HuggingFaceBackend()
    # issue 7, parts 3 and 4: git repos as torch.hub loads them, and single weight files by URL
    if hub == HUB_TORCHHUB:
        from ptmlock.hubs.torchhub import TorchHubBackend

        return TorchHubBackend()
    if hub == HUB_URL:
        from ptmlock.hubs.url import UrlBackend

        return UrlBackend()
    raise ManifestError(
        f"Locking models with hub = {hub!r} is not supported by this version of ptmlock yet "
        "(only 'huggingface'). Remove the entry or set hub = \"huggingface\"."
    )


def default_head_backend(hub: str) -> HeadBackend | None:
    """The backend that can check `hub` for newer commits, or None (not checked)."""
    if hub == HUB_HUGGINGFACE:
        from ptmlock.hubs.huggingface import HuggingFaceBackend

        return HuggingFaceBackend()
    # torchhub could answer (`TorchHubBackend.current_commit`) but is not offered yet; a url's pin is its bytes
    return None

"""huggingface_hub 0.34+ and 1.x+: the few places where the client's shape differs, in one module.

huggingface_hub before 1.0 (what every transformers 4.x release requires) talks HTTP through
`requests` (one `requests.Session` per thread, `configure_http_backend`, `reset_sessions`);
1.x through `httpx`, 2.x through `httpx2` (one shared client, `set_client_factory`,
`close_session`). 1.x+ also has `resolve_revision` and `ResolvedRevision`, which 0.x lacks.
Everything else ptmlock uses (`hf_hub_download`, `snapshot_download`, `try_to_load_from_cache`,
`HfApi` metadata calls, `errors`, `constants`, `build_hf_headers`, `hf_raise_for_status`) has
the same name and signature in both lines.

Each difference is told by the presence of the feature, never by a version number. Nothing here
imports huggingface_hub (or an HTTP library) until a function is called.
"""
from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

_CHUNK = 64 * 1024


def close_session() -> None:
    """Drop huggingface_hub's pooled connections (the next request opens new ones)."""
    from huggingface_hub import utils

    close = getattr(utils, "close_session", None) or getattr(utils, "reset_sessions")  # 1.x+ / 0.x
    close()


def _requests_based(session: Any) -> bool:
    return not hasattr(session, "build_request")  # httpx/httpx2 clients build requests; requests.Session does not


def stream_get(session: Any, url: str, *, headers: dict[str, str], timeout: float,
               params: dict[str, Any] | None = None) -> Any:
    """Send a streamed GET through huggingface_hub's `session` (as `get_session()` gave it) and
    return the response, headers read, body not: it has `status_code`, `headers`, `links`,
    `request`, `iter_bytes()` (bytes as they arrive) and `close()`, whichever client it is."""
    if not _requests_based(session):
        request = session.build_request("GET", url, params=params, headers=headers, timeout=timeout)
        return session.send(request, stream=True)
    return _RequestsResponse(session.get(url, params=params, headers=headers, timeout=timeout, stream=True))


class _RequestsResponse:
    """A streamed `requests.Response` with the httpx names ptmlock reads."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.status_code: int = response.status_code
        self.headers = response.headers
        self.links: dict[str, dict[str, str]] = response.links
        self.request = response.request

    def iter_bytes(self) -> Iterator[bytes]:
        raw = self.response.raw
        read1 = getattr(raw, "read1", None)  # urllib3 2: what has arrived, without waiting for a full chunk
        if read1 is None:
            yield from self.response.iter_content(_CHUNK)
            return
        from requests import exceptions as rq
        from urllib3 import exceptions as u3

        while True:
            try:  # urllib3's errors as requests names them (as `iter_content` does)
                chunk = read1(_CHUNK, decode_content=True)
            except u3.ProtocolError as e:
                raise rq.ChunkedEncodingError(e) from None
            except u3.DecodeError as e:
                raise rq.ContentDecodingError(e) from None
            except (u3.ReadTimeoutError, u3.SSLError) as e:
                raise rq.ConnectionError(e) from None
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> _RequestsResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def with_body(response: Any, body: bytes | None) -> Any:
    """`response` (from `stream_get`, its body read as `body`) in the form huggingface_hub's
    `hf_raise_for_status` takes, so it reads the hub's error message from `body`."""
    if isinstance(response, _RequestsResponse):
        r = response.response
        r._content, r._content_consumed = body or b"", True
        return r
    headers = [(k, v) for k, v in response.headers.multi_items()
               if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")]
    return type(response)(response.status_code, headers=headers, content=body or b"", request=response.request)


def _http_modules() -> list[Any]:
    modules = []
    for name in ("httpx2", "httpx", "requests"):  # huggingface_hub 2.x, 1.x, 0.x
        try:
            modules.append(__import__(name))
        except ImportError:
            continue
    return modules


def transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP clients' errors for a request that never got a whole answer (refused, reset, timed out)."""
    errors: list[type[BaseException]] = []
    for module in _http_modules():
        if module.__name__ == "requests":
            e = module.exceptions
            errors += [e.ConnectionError, e.Timeout, e.ChunkedEncodingError]
        else:
            errors.append(module.TransportError)
    return tuple(errors)


def request_errors() -> tuple[type[BaseException], ...]:
    """The HTTP clients' errors that are neither an answer nor a transport failure: a redirect loop,
    a body that cannot be decoded, a URL the hub redirected to that is not valid."""
    errors: list[type[BaseException]] = []
    for module in _http_modules():
        if module.__name__ == "requests":
            e = module.exceptions
            errors += [e.TooManyRedirects, e.ContentDecodingError, e.InvalidURL, e.InvalidSchema, e.MissingSchema]
        else:
            errors += [module.TooManyRedirects, module.DecodingError, module.InvalidURL, module.UnsupportedProtocol]
    return tuple(errors)


def resolved_revision(commit: str, repo_id: str, repo_type: str | None) -> Any:
    """huggingface_hub's `ResolvedRevision` for `commit` (1.x+); the commit itself where the client
    has none (0.x: nothing there takes one, every caller passes a plain revision string)."""
    import huggingface_hub

    resolved = getattr(huggingface_hub, "ResolvedRevision", None)
    if resolved is None:
        return commit
    return resolved(commit, initial=commit, repo_id=repo_id, repo_type=repo_type)


def parse_hf_path(stripped: str) -> tuple[str, str, str | None, str] | None:
    """(repo type, repo id, revision in the path or None, path in the repo) of an `hf://` path
    without its protocol, parsed as `HfFileSystem.resolve_path` does but without a request; None
    for a bucket. 1.x+ has `parse_hf_uri` for it; for 0.x, the same rules are read here.

    Raises:
        ValueError: the path names no repo.
    """
    from huggingface_hub import constants, utils

    parse_hf_uri = getattr(utils, "parse_hf_uri", None)
    if parse_hf_uri is not None:
        parsed = parse_hf_uri(constants.HF_PROTOCOL + stripped)
        return None if parsed.is_bucket else (str(parsed.type), parsed.id, parsed.revision, parsed.path_in_repo)
    from urllib.parse import unquote

    repo_type = constants.REPO_TYPE_MODEL
    head, _, rest = stripped.partition("/")
    if head + "/" in constants.REPO_TYPES_URL_PREFIXES.values():
        repo_type, stripped = constants.REPO_TYPES_MAPPING[head], rest
    if "@" in stripped:
        repo_id, _, after = stripped.partition("@")
        match = re.match(r"(refs/(?:convert/(?:parquet|duckdb)|pr/\d+))(?:/|$)", after)
        revision, _, path_in_repo = (match.group(1), "", after[match.end():]) if match else after.partition("/")
        revision = unquote(revision)
    else:
        parts = stripped.split("/")
        repo_id, revision, path_in_repo = "/".join(parts[:2]), None, "/".join(parts[2:])
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"no repo in {stripped!r}")
    return repo_type, repo_id, revision, path_in_repo


def quiet_download() -> dict[str, Any]:
    """Keyword arguments that keep `hf_hub_download` from drawing a progress bar: 1.x+ takes a
    `tqdm_class`; 0.x has no such argument (its bar follows `HF_HUB_DISABLE_PROGRESS_BARS`)."""
    from huggingface_hub.utils import tqdm as tqdm_module

    silent = getattr(tqdm_module, "silent_tqdm", None)
    return {"tqdm_class": silent} if silent is not None else {}

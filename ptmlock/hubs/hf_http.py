"""Bounded JSON requests to a Hugging Face compatible hub (issue 11).

`get_json()` sends one GET through huggingface_hub's own session (proxies, client factory,
token, offline switch) and reads the answer as a stream, refusing it once it passes
`max_answer_bytes()` (`PTMLOCK_MAX_ANSWER_BYTES`, default 64 MiB), so a 200 MB answer never
sits in memory whole. Error statuses go through huggingface_hub's `hf_raise_for_status`, so
callers map `RepositoryNotFoundError` and friends as before. A redirect loop and any other
answer that cannot be read become ptmlock errors here, never a traceback.
"""
from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urljoin, urlsplit

from ptmlock.constants import DEFAULT_MAX_ANSWER_BYTES, ENV_MAX_ANSWER_BYTES
from ptmlock.errors import HubError, UnsafeHubAnswerError

_ERROR_BODY_BYTES = 64 * 1024  # enough for the hub's error message
MAX_PAGES = 10_000  # tree listing pages followed for one repo


def max_answer_bytes() -> int:
    """The cap on one JSON answer: `PTMLOCK_MAX_ANSWER_BYTES`, else 64 MiB.

    Raises:
        HubError: the variable is set but is not a positive whole number of bytes.
    """
    raw = os.environ.get(ENV_MAX_ANSWER_BYTES)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_ANSWER_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise HubError(f"{ENV_MAX_ANSWER_BYTES}={raw!r} is not a positive number of bytes. Unset it (default "
                       f"{DEFAULT_MAX_ANSWER_BYTES}) or set e.g. {ENV_MAX_ANSWER_BYTES}=134217728.")
    return value


def request_errors() -> tuple[type[BaseException], ...]:
    """The client's errors that are neither an answer nor a transport failure: a redirect loop,
    a body that cannot be decoded, a URL the hub redirected to that is not valid."""
    errors: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        errors += [module.TooManyRedirects, module.DecodingError, module.InvalidURL, module.UnsupportedProtocol]
    return tuple(errors)


def unreadable(source: str, what: str, e: BaseException) -> HubError:
    """The error for `request_errors()`: exit 4, one line."""
    if "Redirect" in type(e).__name__:
        return HubError(f"The hub at {source} answered {what} with a redirect loop ({e}). Check HF_ENDPOINT and "
                        "any proxy in between, then try again.")
    return HubError(f"The hub at {source} sent an answer to {what} that cannot be read ({type(e).__name__}: {e}). "
                    "Check HF_ENDPOINT and any proxy in between, then try again.")


def get_json(url: str, *, params: dict[str, Any] | None = None, timeout: float, what: str, model_id: str,
             source: str) -> tuple[Any, str | None]:
    """GET `url` and return the decoded JSON and the `next` page URL (None when none).

    Raises:
        huggingface_hub.errors.HfHubHTTPError (and subclasses): an error status, as huggingface_hub maps it.
        UnsafeHubAnswerError: the answer is larger than `max_answer_bytes()`, or not JSON, or
            nested deeper than Python can decode, or its next page is on another host.
        HubError: a redirect loop or an undecodable body.
        transport errors of the client: left to the caller's retry loop.
    """
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    cap = max_answer_bytes()
    headers = build_hf_headers()
    try:
        with get_session().stream("GET", url, params=params, headers=headers, timeout=timeout) as r:
            if r.status_code >= 400:
                body = _read(r, _ERROR_BODY_BYTES, truncate=True)
                hf_raise_for_status(_replay(r, body))
            declared = r.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise _too_big(source, what, model_id, int(declared), cap)
            body = _read(r, cap, truncate=False)
            if body is None:
                raise _too_big(source, what, model_id, None, cap)
            link = _next_link(r, url, source, what, model_id)
    except request_errors() as e:
        raise unreadable(source, f"{what} of {model_id!r}", e) from None
    try:
        return json.loads(body), link
    except (ValueError, RecursionError) as e:
        why = "is nested too deeply" if isinstance(e, RecursionError) else f"is not valid JSON ({e})"
        raise UnsafeHubAnswerError(f"The hub at {source} answered {what} of {model_id!r} with a body that {why}. "
                                   "ptmlock refuses it and wrote nothing. Check HF_ENDPOINT points at a Hugging "
                                   "Face compatible hub.") from None


def _read(r: Any, limit: int, *, truncate: bool) -> bytes | None:
    """At most `limit` bytes of the body; None when there are more (unless `truncate`)."""
    chunks: list[bytes] = []
    n = 0
    for chunk in r.iter_bytes():
        n += len(chunk)
        if n > limit:
            if truncate:
                chunks.append(chunk[:limit - (n - len(chunk))])
                break
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(r: Any, body: bytes | None) -> Any:
    """A read response with `body`, for `hf_raise_for_status` (it reads the error message)."""
    headers = [(k, v) for k, v in r.headers.multi_items()
               if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")]
    return type(r)(r.status_code, headers=headers, content=body or b"", request=r.request)


def _next_link(r: Any, url: str, source: str, what: str, model_id: str) -> str | None:
    link = r.links.get("next", {}).get("url")
    if not link:
        return None
    absolute = urljoin(url, link)
    a, b = urlsplit(url), urlsplit(absolute)
    if (a.scheme, a.netloc) != (b.scheme, b.netloc):
        # huggingface_hub would send the token there; ptmlock does not follow pages to another host
        raise UnsafeHubAnswerError(f"The hub at {source} answered {what} of {model_id!r} with a next page on "
                                   f"another host ({b.scheme}://{b.netloc}). ptmlock refuses to follow it and "
                                   "wrote nothing. Check HF_ENDPOINT.")
    return str(absolute)


def _too_big(source: str, what: str, model_id: str, size: int | None, cap: int) -> UnsafeHubAnswerError:
    got = f"{size} bytes, more" if size is not None else "more"
    return UnsafeHubAnswerError(
        f"The hub at {source} answered {what} of {model_id!r} with {got} than the {cap} bytes ptmlock reads "
        f"({ENV_MAX_ANSWER_BYTES}). ptmlock refused it and wrote nothing. If the repository really is that large, "
        f"raise {ENV_MAX_ANSWER_BYTES}; otherwise check HF_ENDPOINT.")

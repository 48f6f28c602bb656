"""What every network caller shares: which answers are retried and which errors are transport
failures. Settings read from the environment are parsed in `ptmlock.settings`."""
from __future__ import annotations

# Retried with back-off (huggingface_hub's utils/_http.py::http_backoff retries the same set).
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the request never got an answer (refused, reset, timed out)."""
    errors: list[type[BaseException]] = [TimeoutError, ConnectionError]
    for name in ("httpx2", "httpx"):  # huggingface_hub 2.x uses httpx2, 1.x httpx
        try:
            module = __import__(name)
        except ImportError:
            continue
        errors.append(module.TransportError)
    return tuple(errors)

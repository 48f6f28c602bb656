"""What the *user's* call asked for, as opposed to what the library passes on (issue 21).

transformers' model-specific classes (`BertModel`, `WhisperConfig`, `BertTokenizerFast`, ...)
inherit `from_pretrained(..., revision="main")`, so the hub layer receives "main" whether or not
the caller wrote it. Only the entry point's own arguments tell a default from a choice: a scope
(`_runtime.scoped(library, revision=...)`) reads them with `passed_argument` when the user's
call starts, and every request built inside it (`caller_request`) carries the answer to
`ptmlock.decide`, whose `chosen` applies the one rule (shared with `scan`/`check`).
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time; `import ptmlock.enforce` must stay cheap
    from collections.abc import Callable
    from typing import Any, Protocol

    from ptmlock.decide import Request

    class Scope(Protocol):
        injected: dict[str, tuple[str, str, str]]
        passed: bool | None
        revision: str | None


def caller_request(repo: str, revision: object, repo_type: str, hub: str, scope: Scope | None) -> Request:
    """The `Request` for one intercepted hub call made inside `scope` (None: outside any user call)."""
    from ptmlock.decide import Request

    asked, resolved = split(revision)
    if scope is not None and asked is not None and asked in scope.injected \
            and scope.injected[asked] != (hub, repo_type, repo.casefold()):
        asked, resolved = None, None  # a commit we injected for another repo of this load: not the user's ask
    if scope is None:
        return Request(repo, asked, resolved, repo_type, hub)
    return Request(repo, asked, resolved, repo_type, hub, caller_passed=scope.passed, caller_revision=scope.revision)


def split(revision: object) -> tuple[str | None, str | None]:
    """(the ref asked for, the commit it already resolved to) of a revision argument: a string, or
    huggingface_hub's `ResolvedRevision` (whose ref is `initial`)."""
    if revision is None:
        return None, None
    resolved = getattr(revision, "resolved", None)  # huggingface_hub's ResolvedRevision
    if isinstance(resolved, str):
        initial = getattr(revision, "initial", None)
        return (str(initial) if initial is not None else None), resolved
    return str(revision), None


def passed_argument(fn: Callable[..., Any], name: str
                    ) -> Callable[[tuple[Any, ...], dict[str, Any]], tuple[bool | None, str | None]]:
    """A reader of one call of `fn`: did the caller pass argument `name` (positionally, by keyword,
    or into `**kwargs`), and which revision (`split`) is it? `(None, None)` when the call does not
    fit `fn`'s signature (the function itself will say so) or the value cannot be read (`check`
    says so). The library's default is not "passed"."""
    import inspect

    signature = inspect.signature(fn)
    varkw = next((p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD), None)

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool | None, str | None]:
        try:
            bound = signature.bind_partial(*args, **kwargs).arguments
            extra = bound.get(varkw) if varkw is not None else None
            if name in bound:
                return True, split(bound[name])[0]
            if isinstance(extra, dict) and name in extra:
                return True, split(extra[name])[0]
        except Exception:  # noqa: BLE001  (an odd call or revision: judged as given)
            return None, None
        return False, None

    return read

"""sentence-transformers: `SentenceTransformer(...)`, `CrossEncoder(...)`, `SparseEncoder(...)`.

All three are `BaseModel.__init__` (sentence-transformers 6), wrapped as the scope. Before any
download it prefixes short names with `sentence-transformers/` (unless they are original
transformers models) and calls `util.file_io._resolve_model_revision` once, whose broad
`except Exception` would swallow a refusal: that function is wrapped as the resolver, so a
listed model gets the locked commit (no request) and a refused one raises before anything is
sent. Its inner Transformer module then loads through transformers at the same commit.
"""
from __future__ import annotations

from types import ModuleType  # types is loaded at interpreter start: no import cost

from ptmlock.enforce._hooks import wrap_function
from ptmlock.enforce._runtime import scoped
from ptmlock.enforce.hf_hub import guard_resolver

LIBRARY = "sentence-transformers"
# The distribution and the X.Y release lines CI runs these hooks with (.ci/run; see _versions).
TESTED = ("sentence-transformers", ("6.2",))


def _patch_file_io(module: ModuleType) -> None:
    wrap_function(module, "_resolve_model_revision", guard_resolver(LIBRARY, "model_name_or_path"))


def _patch_base_model(module: ModuleType) -> None:
    wrap_function(module.BaseModel, "__init__", scoped(LIBRARY, "revision"))


PATCHES = {
    "sentence_transformers.util.file_io": _patch_file_io,
    "sentence_transformers.base.model": _patch_base_model,
}

"""The scan's pre-filter: which files can hold a load at all, decided on raw bytes or text.

A file is parsed only if its *code* (strings and comments removed) can hold a call the
analyzer matches. It must stay a superset of `scan.analyze` and the loader table in
`scan.loaders`: every loader needs identifiers in code (an import, a method name, a keyword
argument), never only a string. Keep them in step.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import AnyStr, Generic


# method names: matched as `.name` (whitespace allowed after the dot), so that a `def
# from_pretrained` override alone does not make a file worth parsing
_METHOD_NEEDLES = ("from_pretrained", "from_single_file", "load_lora_weights")
_ALWAYS = (
    "from_pretrained_keras", "hf_hub_download", "snapshot_download", "load_url", "load_state_dict_from_url",
    "download_url_to_file", "load_file_from_url", "download_cached_file",
    # download helpers named for what they fetch (scan.urls.NAMED_HELPER)
    "download_weight", "download_model", "download_ckpt", "download_checkpoint", "download_pretrain",
)
_ANCHORS = ("download", "_url", "from_pretrained_")  # every _ALWAYS needle holds one of these
assert all(any(a in n for a in _ANCHORS) for n in _ALWAYS)
# (whole words, any of which) x (substrings, any of which; the rarer side, so tested first)
_PAIRS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("SentenceTransformer", "CrossEncoder", "SparseEncoder", "from_model2vec"), ("sentence_transformers",)),
    (("pipeline",), ("transformers",)),
    (("create_model", "create_model_and_transforms", "create_model_from_pretrained"), ("timm", "open_clip", "geffnet")),
    (("urlopen", "urlretrieve"), ("urllib",)),
    (("download",), ("wget", "gdown")),
    (("Ranker",), ("flashrank",)),
    (("ColBERT",), ("pylate",)),
)
# calls whose names are too common to be words of a pair: each spelled as the analyzer matches it
# calls whose names are too common to be words of a pair, as substrings of the spellings the
# analyzer matches (`requests.get(`, `from requests import get`, ...)
_CALL_ANCHORS = ("requests", "pooch", "clip")  # each of _CALLS holds one: a miss costs three scans
_CALLS = ("requests.get", "from requests import", "pooch.retrieve", "from pooch import", "clip.load",
          "from clip import")
assert all(any(a in c for a in _CALL_ANCHORS) for c in _CALLS)
# torch.hub.load needs the word "hub" and a binding of torch's hub module in code: `torch.hub`,
# `from torch import hub`, or `import torch as th` (then `th.hub`)
_TORCH_HUB = r"torch\.hub|from\s+torch\s+import|import\s+torch\s+as"
# a pair's module counts only where it is imported (the analyzer knows a loader by its import):
# on a line (or after a semicolon) that starts an import statement
_IMPORT_START = r"[ \t]*(?:from|import)[ \t]"
# torchvision builders live in torchvision.models, reached by one of these spellings
_TORCHVISION_MODELS = (r"torchvision\s*\.\s*models|import\s+torchvision\s+as"
                       r"|from\s+torchvision\s+import\s*(?:\([^)]*|[^\n]*)\bmodels\b")
# torchvision builders load weights only through these keyword arguments
_KWARG_NEEDLES = ("pretrained", "weights", "pretrained_backbone", "weights_backbone")

# Strings (any prefix; the prefix letters stay behind, harmlessly) and comments. A heuristic
# lexer: the one construct it misreads is a Python 3.12 f-string that nests an odd number of
# its own quote characters, which no loader call needs.
_STRIP = (
    r"#[^\r\n]*"
    r'|"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*"""'
    r"|'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''"
    r'|"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"'
    r"|'[^'\\\r\n]*(?:\\.[^'\\\r\n]*)*'"
)


class _Needles(Generic[AnyStr]):
    """The pre-filter for one string type (bytes for raw files, str for text)."""

    def __init__(self, c: Callable[[str], AnyStr]) -> None:
        self.methods: tuple[AnyStr, ...] = tuple(c(s) for s in _METHOD_NEEDLES)
        self.anchored: tuple[tuple[AnyStr, tuple[AnyStr, ...]], ...] = tuple(
            (c(anchor), tuple(c(n) for n in _ALWAYS if anchor in n)) for anchor in _ANCHORS)
        self.pairs: tuple[tuple[tuple[AnyStr, ...], tuple[AnyStr, ...]], ...] = tuple(
            (tuple(c(a) for a in names), tuple(c(m) for m in mods)) for names, mods in _PAIRS)
        self.import_start: re.Pattern[AnyStr] = re.compile(c(_IMPORT_START))
        self.newline: AnyStr = c("\n")
        self.semicolon: AnyStr = c(";")
        self.load: AnyStr = c("load")
        self.transformers: AnyStr = c("transformers")
        self.calls: tuple[tuple[AnyStr, tuple[AnyStr, ...]], ...] = tuple(
            (c(anchor), tuple(c(n) for n in _CALLS if anchor in n)) for anchor in _CALL_ANCHORS)
        self.torchvision_models: re.Pattern[AnyStr] = re.compile(c(_TORCHVISION_MODELS))
        self.kwargs: tuple[AnyStr, ...] = tuple(c(s) for s in _KWARG_NEEDLES)
        self.torchvision: AnyStr = c("torchvision")
        self.hub: AnyStr = c("hub")
        self.torch_hub: re.Pattern[AnyStr] = re.compile(c(_TORCH_HUB))
        self.strip: re.Pattern[AnyStr] = re.compile(c(_STRIP), re.S)
        self.empty: AnyStr = c("")
        self.dot: AnyStr = c(".")
        self.equals: AnyStr = c("=")
        self.underscore: AnyStr = c("_")

    def _ident(self, ch: AnyStr) -> bool:
        return ch.isalnum() or ch == self.underscore

    def _occurrences(self, text: AnyStr, word: AnyStr) -> list[int]:
        out, i = [], text.find(word)
        while i >= 0:
            out.append(i)
            i = text.find(word, i + 1)
        return out

    def _attribute(self, text: AnyStr, name: AnyStr) -> bool:
        for i in self._occurrences(text, name):
            end = i + len(name)
            if self._ident(text[end:end + 1]):
                continue
            j = i - 1
            while j >= 0 and text[j:j + 1].isspace():
                j -= 1
            if j >= 0 and text[j:j + 1] == self.dot:
                return True
        return False

    def _word(self, text: AnyStr, word: AnyStr) -> bool:
        for i in self._occurrences(text, word):
            end = i + len(word)
            if not self._ident(text[i - 1:i] if i else self.empty) and not self._ident(text[end:end + 1]):
                return True
        return False

    def _kwarg(self, text: AnyStr, name: AnyStr) -> bool:
        for i in self._occurrences(text, name):
            end = i + len(name)
            if self._ident(text[i - 1:i] if i else self.empty) or self._ident(text[end:end + 1]):
                continue
            rest = text[end:end + 8].lstrip()
            if rest[:1] == self.equals and rest[1:2] != self.equals:
                return True
        return False

    def _imported(self, text: AnyStr, module: AnyStr) -> bool:
        """Is `module` named (as a word) by an import statement: `import x`, `from x.y import z`?"""
        for i in self._occurrences(text, module):
            end = i + len(module)
            if self._ident(text[i - 1:i] if i else self.empty) or self._ident(text[end:end + 1]):
                continue
            start = max(text.rfind(self.newline, 0, i), text.rfind(self.semicolon, 0, i)) + 1
            if self.import_start.match(text, start):
                return True
        return False

    def hit(self, text: AnyStr) -> bool:
        # rare substrings guard each group, so that a file without loads costs ~12 scans
        for anchor, names in self.anchored:
            if anchor in text and any(n in text for n in names):
                return True
        for name in self.methods:
            if name in text and self._attribute(text, name):
                return True
        transformers = self.transformers in text  # also a substring of sentence_transformers
        for names, mods in self.pairs:
            if any((transformers or self.transformers not in m) and m in text for m in mods) \
                    and any(n in text and self._word(text, n) for n in names) \
                    and any(self._imported(text, m) for m in mods):
                return True
        for anchor, calls in self.calls:
            if anchor in text and any(n in text for n in calls):
                return True
        if self.hub in text and self._word(text, self.hub) and self.torch_hub.search(text) \
                and self._word(text, self.load):  # torch.hub.load
            return True
        return (self.torchvision in text and any(k in text and self._kwarg(text, k) for k in self.kwargs)
                and self.torchvision_models.search(text) is not None)

    def code_hit(self, text: AnyStr) -> bool:
        return self.hit(self.strip.sub(self.empty, text))


_STR_NEEDLES = _Needles(str)
_BYTES_NEEDLES = _Needles(str.encode)


def may_contain_load(text: str) -> bool:
    """The whole pre-filter on text: a substring test, then the same test on code only."""
    return _STR_NEEDLES.hit(text) and _STR_NEEDLES.code_hit(text)


def quick_bytes_test(data: bytes) -> bool:
    """The cheap first stage on raw bytes (no decoding, no hashing): False means no load."""
    return _BYTES_NEEDLES.hit(data)


def code_bytes_test(data: bytes) -> bool:
    """The second stage on raw bytes (after `quick_bytes_test`): can the *code* hold a load?

    Most files that pass the first stage name a loader only in docstring examples (`>>> model =
    AutoModel.from_pretrained(...)`); those lines are dropped first with a few `find` calls, and
    the regex that strips every string and comment runs only when a needle is left."""
    return _BYTES_NEEDLES.hit(_without_doctest_lines(data)) and _BYTES_NEEDLES.code_hit(data)


def _without_doctest_lines(data: bytes) -> bytes:
    """`data` without its `>>>` lines. A line that starts with `>>>` can only be inside a string
    literal (in code it is a syntax error); one holding a triple quote, or following a line that
    ends in a backslash, might end that string, and is kept."""
    out: list[bytes] = []
    start = 0
    i = data.find(b">>>")
    while i >= 0:
        line = data.rfind(b"\n", 0, i) + 1
        end = data.find(b"\n", i)
        end = len(data) if end < 0 else end
        if (not data[line:i].strip(b" \t") and b'"""' not in data[i:end] and b"'''" not in data[i:end]
                and not data[max(line - 3, 0):line].rstrip(b"\r\n").endswith(b"\\")):
            out.append(data[start:line])
            start = end
        i = data.find(b">>>", end)
    out.append(data[start:])
    return b"".join(out)

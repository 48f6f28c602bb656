"""The scan's pre-filter: which files can hold a load at all, decided on raw bytes or text.

A file is parsed only if its *code* (strings and comments removed) can hold a call the
analyzer matches. It must stay a superset of `scan.analyze` and the loader table in
`scan.loaders`: every loader needs identifiers in code (an import, a method name, a keyword
argument), never only a string. Keep them in step.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import AnyStr, Generic

from ptmlock.scan.delegation import Enclosing
from ptmlock.scan.seen import Seen, line_end


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
# (whole words, any of which) x (modules imported, any of which)
_PAIRS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("SentenceTransformer", "CrossEncoder", "SparseEncoder", "from_model2vec"), ("sentence_transformers",)),
    (("pipeline",), ("transformers",)),
    (("create_model", "create_model_and_transforms", "create_model_from_pretrained"), ("timm", "open_clip", "geffnet")),
    (("urlopen", "urlretrieve"), ("urllib",)),
    (("download",), ("wget", "gdown")),
    (("Ranker",), ("flashrank",)),
    (("ColBERT",), ("pylate",)),
)
# calls whose names are too common to be words of a pair, as substrings of the spellings the
# analyzer matches (`requests.get(`, `from requests import get`, ...)
_CALL_ANCHORS = ("requests", "pooch", "clip")  # each of _CALLS holds one
_CALLS = ("requests.get", "from requests import", "pooch.retrieve", "from pooch import", "clip.load",
          "from clip import")
assert all(any(a in c for a in _CALL_ANCHORS) for c in _CALLS)
# torch.hub.load needs the word "hub" and a binding of torch's hub module in code: `torch.hub`,
# `from torch import hub` (among other names, in parentheses or after a backslash; or `*`), or
# `import torch as th` (then `th.hub`); `from torch import nn` in a file that says "hub" is none
_TORCH_ALIAS = r"import\s+torch\s+as\b"
_FROM_TORCH_IMPORT = r"from\s+torch\s+import\s*"
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
    """The pre-filter for one string type (bytes for raw files, str for text).

    `first(text)` is the index of the first rule (a group of needles) that fires, or -1. Most
    files fire none, so what a rule costs is the substring scans it makes on a file without its
    needles: each group is guarded by one substring all its needles contain (or require), and the
    presence of a substring is looked up once per text (`Seen`), however many rules ask."""

    def __init__(self, c: Callable[[str], AnyStr]) -> None:
        # (guard, anchor, names): `from_pretrained_` is only looked for where `from_pretrained` is
        self.always: tuple[tuple[AnyStr, AnyStr, tuple[AnyStr, ...]], ...] = tuple(
            (c(_METHOD_NEEDLES[0] if anchor.startswith(_METHOD_NEEDLES[0]) else anchor), c(anchor),
             tuple(c(n) for n in _ALWAYS if anchor in n)) for anchor in _ANCHORS)
        # each name with where its anchor is in it
        self.always_at: tuple[tuple[tuple[AnyStr, int], ...], ...] = tuple(
            tuple((name, name.find(anchor)) for name in names) for _, anchor, names in self.always)
        self.methods: tuple[AnyStr, ...] = tuple(c(s) for s in _METHOD_NEEDLES)
        self.pairs: tuple[tuple[tuple[AnyStr, ...], tuple[AnyStr, ...]], ...] = tuple(
            (tuple(c(a) for a in names), tuple(c(m) for m in mods)) for names, mods in _PAIRS)
        self.torch: AnyStr = c("torch")
        self.import_start: re.Pattern[AnyStr] = re.compile(c(_IMPORT_START))
        self.newline: AnyStr = c("\n")
        self.syntax: tuple[AnyStr, AnyStr, AnyStr, AnyStr, AnyStr] = (c("import"), c("\n"), c("("), c(")"), c("\\"))
        self.semicolon: AnyStr = c(";")
        self.load: AnyStr = c("load")
        self.calls: tuple[tuple[AnyStr, tuple[AnyStr, ...]], ...] = tuple(
            (c(anchor), tuple(c(n) for n in _CALLS if anchor in n)) for anchor in _CALL_ANCHORS)
        self.torchvision_models: re.Pattern[AnyStr] = re.compile(c(_TORCHVISION_MODELS))
        self.kwargs: tuple[AnyStr, ...] = tuple(c(s) for s in _KWARG_NEEDLES)
        self.torchvision: AnyStr = c("torchvision")
        self.hub: AnyStr = c("hub")
        self.torch_dot_hub: AnyStr = c("torch.hub")
        self.torch_alias: re.Pattern[AnyStr] = re.compile(c(_TORCH_ALIAS))
        self.from_torch: re.Pattern[AnyStr] = re.compile(c(_FROM_TORCH_IMPORT))
        self.star: AnyStr = c("*")
        self.strip: re.Pattern[AnyStr] = re.compile(c(_STRIP), re.S)
        self.enclosing: Enclosing[AnyStr] = Enclosing(c)
        self.empty: AnyStr = c("")
        self.dot: AnyStr = c(".")
        self.equals: AnyStr = c("=")
        self.underscore: AnyStr = c("_")
        self.blank: AnyStr = c(" \t")
        self.hash: AnyStr = c("#")
        self.prompt: AnyStr = c(">>>")
        self.backtick: AnyStr = c("`")
        self.triple_quotes: tuple[AnyStr, AnyStr] = (c('"""'), c("'''"))
        self.line_breaks: AnyStr = c("\r\n")
        self.words: dict[AnyStr, re.Pattern[AnyStr]] = {}
        self.uses: dict[AnyStr, tuple[re.Pattern[AnyStr], re.Pattern[AnyStr]]] = {}
        self.called_or_aliased: AnyStr = c(r"(?=\s*\(|\s+as\b)")
        self.assigned: AnyStr = c(r"=\s*(?:\w+\s*\.\s*)*")
        self.not_after_ident: tuple[AnyStr, AnyStr] = (c(r"(?<!\w"), c(r")(?!\w)"))
        self.rules: tuple[Callable[[Seen[AnyStr]], bool], ...] = (
            *(functools.partial(self._always, a) for a in range(len(self.always))),
            *(functools.partial(self._method, m) for m in range(len(self.methods))),
            *(functools.partial(self._pair, p) for p in range(len(self.pairs))),
            *(functools.partial(self._call, a) for a in range(len(self.calls))),
            self._torch_hub, self._torchvision)

    def _ident(self, ch: AnyStr) -> bool:
        return ch.isalnum() or ch == self.underscore

    def _occurrences(self, text: AnyStr, word: AnyStr) -> list[int]:
        out, i = [], text.find(word)
        while i >= 0:
            out.append(i)
            i = text.find(word, i + 1)
        return out

    def _attribute(self, text: AnyStr, name: AnyStr, code: bool = False) -> bool:
        """`.name` in `text`; in code alone, not where a `from_pretrained` override forwards its
        caller's id (`super().from_pretrained(...)`: `scan.delegation`)."""
        for i in self._occurrences(text, name):
            end = i + len(name)
            if self._ident(text[end:end + 1]):
                continue
            j = i - 1
            while j >= 0 and text[j:j + 1].isspace():
                j -= 1
            if j >= 0 and text[j:j + 1] == self.dot and not (code and self.enclosing.delegates(text, i)) \
                    and not self._prose(text, i, end):
                return True
        return False

    def _prose(self, text: AnyStr, i: int, end: int) -> bool:
        """Is `text[i:end]` certainly not code, by its line alone? On a line that starts with `#`
        (a comment, or a line of a string) or `>>>` (a doctest line: `_without_doctest_lines`),
        or followed by a backtick (reST or Markdown in a docstring: "[`~Model.from_pretrained`]";
        no Python 3 code holds one). Most files that name a loader do so only there."""
        start = text.rfind(self.newline, 0, i) + 1
        head = text[start:i].lstrip(self.blank)
        if head.startswith(self.hash) or text[end:end + 8].lstrip()[:1] == self.backtick:
            return True
        return head.startswith(self.prompt) and self.ends_no_string(text, start, line_end(text, end, self.newline))

    def ends_no_string(self, text: AnyStr, start: int, stop: int) -> bool:
        """Can the line `text[start:stop]`, a `>>>` line, only be inside a string literal (in code
        it is a syntax error)? Not if it holds a triple quote or follows a line that ends in a
        backslash: either might end that string, and code follow on the same line."""
        return not any(q in text[start:stop] for q in self.triple_quotes) and \
            not text[max(start - 3, 0):start].rstrip(self.line_breaks).endswith(self.syntax[4])

    def _word(self, text: AnyStr, word: AnyStr) -> bool:
        """`word` in `text`, not inside a longer identifier. One regex (the word first, so the
        engine jumps to its occurrences; `\\w` is what `_ident` says: ASCII in bytes, Unicode in
        text), not a loop in Python: "hub" comes hundreds of times in a file of `huggingface_hub`."""
        found = self.words.get(word)
        if found is None:
            w = re.escape(word)
            found = self.words[word] = re.compile(w + self.not_after_ident[0] + w + self.not_after_ident[1])
        return found.search(text) is not None

    def _callable(self, text: AnyStr, word: AnyStr) -> bool:
        """`word` (a loader class or function) used the ways the analyzer can follow to a call:
        called (`SentenceTransformer(`), imported under another name (`SentenceTransformer as ST`),
        or assigned to one (`Model = SentenceTransformer`, `= st.SentenceTransformer`). A name
        only in annotations and `isinstance` tests (a library's own modules) is no load."""
        found = self.uses.get(word)
        if found is None:
            w = re.escape(word)
            not_in_ident = self.not_after_ident[0] + w + self.not_after_ident[1]
            found = self.uses[word] = (re.compile(w + not_in_ident + self.called_or_aliased),
                                       re.compile(self.assigned + w + not_in_ident))
        return found[0].search(text) is not None or found[1].search(text) is not None

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

    # -- the rules, in order ------------------------------------------------------------------

    def _always(self, n: int, seen: Seen[AnyStr]) -> bool:
        """A name of the group in the text: looked for only where its anchor is (a few places),
        not by a scan of the whole text per name."""
        guard, anchor, names = self.always[n]
        if not (seen.has(guard) and seen.has(anchor)):
            return False
        text, at = seen.text, self.always_at[n]
        i = text.find(anchor)
        while i >= 0:
            if any(text.startswith(name, i - k) and not self._prose(text, i - k, i - k + len(name))
                   for name, k in at if i >= k):
                return True
            i = text.find(anchor, i + 1)
        return False

    def _method(self, n: int, seen: Seen[AnyStr]) -> bool:
        name = self.methods[n]
        return seen.has(name) and self._attribute(seen.text, name, seen.code)

    # The rules below need a module imported: its name is looked for in the import lines first
    # (`Seen.imports`, ~3% of the text), and the rest of the text only where it is there.

    def _pair(self, n: int, seen: Seen[AnyStr]) -> bool:
        names, mods = self.pairs[n]
        imports = seen.imp
        return any(imports.has(m) and self._imported(imports.text, m) for m in mods) \
            and any(seen.has(x) and self._callable(seen.text, x) for x in names)

    def _call(self, n: int, seen: Seen[AnyStr]) -> bool:
        anchor, calls = self.calls[n]
        return seen.imp.has(anchor) and any(seen.has(x) for x in calls)

    def _torch_hub(self, seen: Seen[AnyStr]) -> bool:
        """`torch.hub` in the text, or torch imported under another name (`import torch as th`),
        or `hub` imported from torch; and the words `hub` and `load`. The import spellings are
        looked for in the import lines, and the text is scanned for `torch.hub` (long, and so
        fast to look for) before the short word `hub`."""
        text, imports = seen.text, seen.imp
        return imports.has(self.torch) and (
            seen.has(self.torch_dot_hub) or self.torch_alias.search(imports.text) is not None
            or self._hub_from_torch(imports.text)) and self._word(text, self.hub) and self._word(text, self.load)

    def _hub_from_torch(self, imports: AnyStr) -> bool:
        """`from torch import ..., hub` (or `*`), its names in parentheses or continued after a
        backslash. Linear on any input: an occurrence inside a statement already read is
        skipped, and a parenthesis never closed answers yes."""
        read = 0
        for m in self.from_torch.finditer(imports):
            start = end = m.end()
            if start < read:
                continue
            if imports[start:start + 1] == self.syntax[2]:  # `(`
                end = imports.find(self.syntax[3], start)
                if end < 0:
                    return True
            else:
                line, end = start, line_end(imports, start, self.newline)
                while imports[line:end].rstrip().endswith(self.syntax[4]) and end < len(imports):  # `\`
                    line, end = end + 1, line_end(imports, end + 1, self.newline)
            names = imports[start:end]
            if self.star in names or self._word(names, self.hub):
                return True
            read = end
        return False

    def _torchvision(self, seen: Seen[AnyStr]) -> bool:
        text = seen.text
        return seen.imp.has(self.torchvision) and any(seen.has(k) and self._kwarg(text, k) for k in self.kwargs) \
            and self.torchvision_models.search(text) is not None

    def first(self, text: AnyStr, start: int = 0, seen: Seen[AnyStr] | None = None) -> int:
        """The index of the first rule from `start` on that fires on `text`, or -1."""
        seen = seen if seen is not None else Seen(text, self.syntax)
        seen.imp = seen.imports()  # nearly every file gets to the rules that read it
        rules = self.rules
        for n in range(start, len(rules)):
            if rules[n](seen):
                return n
        return -1

    def hit(self, text: AnyStr) -> bool:
        return self.first(text) >= 0

    def code_first(self, text: AnyStr, start: int = 0) -> int:
        """`first` on the code alone (strings and comments removed)."""
        code = self.strip.sub(self.empty, text)
        return self.first(code, start, Seen(code, self.syntax, code=True))


_STR_NEEDLES = _Needles(str)
_BYTES_NEEDLES = _Needles(str.encode)


def may_contain_load(text: str) -> bool:
    """The whole pre-filter on text: a substring test, then the same test on code only."""
    rule = _STR_NEEDLES.first(text)
    return rule >= 0 and _STR_NEEDLES.code_first(text, rule) >= 0


def quick_bytes_test(data: bytes) -> int:
    """The cheap first stage on raw bytes (no decoding, no hashing): the first rule that fires
    (pass it to `code_bytes_test`), or -1: no load."""
    return _BYTES_NEEDLES.first(data)


def quick_bytes_scan(data: bytes) -> tuple[int, bytes]:
    """`quick_bytes_test`, and the file's import lines (each with its continuation lines), which
    the scan's wrapper pass reads instead of the whole file."""
    seen = Seen(data, _BYTES_NEEDLES.syntax)
    return _BYTES_NEEDLES.first(data, 0, seen), seen.imports().text


def code_bytes_test(data: bytes, rule: int = 0) -> bool:
    """The second stage on raw bytes (after `quick_bytes_test` said `rule`): can the *code* hold
    a load? Only the rules from `rule` on are tried again: code is a part of the text, so an
    earlier rule that did not fire on the whole text cannot fire on its code.

    Most files that pass the first stage name a loader only in docstring examples (`>>> model =
    AutoModel.from_pretrained(...)`); those lines are dropped first with a few `find` calls, and
    the regex that strips every string and comment runs only when a needle is left."""
    rule = max(rule, 0)
    without = _without_doctest_lines(data)
    if without is not data:  # the same text would fire the same rule again
        rule = _BYTES_NEEDLES.first(without, rule)
    return rule >= 0 and _BYTES_NEEDLES.code_first(data, rule) >= 0


def _without_doctest_lines(data: bytes) -> bytes:
    """`data` without its `>>>` lines (those `_Needles.ends_no_string` allows: the others are kept)."""
    out: list[bytes] = []
    start = 0
    i = data.find(b">>>")
    while i >= 0:
        line = data.rfind(b"\n", 0, i) + 1
        end = data.find(b"\n", i)
        end = len(data) if end < 0 else end
        if not data[line:i].strip(b" \t") and _BYTES_NEEDLES.ends_no_string(data, line, end):
            out.append(data[start:line])
            start = end
        i = data.find(b">>>", end)
    if not out:
        return data  # no `>>>` line: the text itself
    out.append(data[start:])
    return b"".join(out)

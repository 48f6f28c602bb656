"""One parsed module -> its findings: match each call against the loader table, then decide
the model id(s), revision, hub and repo type of the calls that load a model."""
from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import replace

from ptmlock.scan import identity
from ptmlock.scan.args import DYNAMIC as _DYNAMIC
from ptmlock.scan.args import MISSING as _MISSING
from ptmlock.scan.args import SKIP as _SKIP
from ptmlock.scan.args import Ids as _Ids
from ptmlock.scan.args import arg as _arg
from ptmlock.scan.args import dir_like as _dir_like
from ptmlock.scan.args import has_star as _has_star
from ptmlock.scan.args import single as _single
from ptmlock.scan.args import weights_text as _weights_text
from ptmlock.scan.args import written as _written
from ptmlock.scan.forward import forwarded, through_param
from ptmlock.scan.index import ModuleIndex
from ptmlock.scan.loaders import (
    HF,
    HF_METHODS,
    K_HF,
    K_OPEN_CLIP,
    K_PIPELINE,
    K_TIMM,
    K_TORCH_HUB,
    K_TORCHVISION,
    K_CLIP,
    K_FETCH,
    K_FLASHRANK,
    K_GEFFNET,
    K_URL,
    KNOWN_LIBRARIES,
    METHODS,
    NOT_HUB_LIBRARIES,
    URL,
    Classified,
    Loader,
    classify_id,
    function_loader,
    method_loader,
    open_clip_id,
    split_at,
    timm_id,
)
from ptmlock.scan.narrow import allowed_ids, subscript_base
from ptmlock.scan.resolve import Resolver
from ptmlock.scan.scopes import FUNCTIONS, Ctx
from ptmlock.scan.types import Finding
from ptmlock.scan import urls as _urls
from ptmlock.scan.values import LOCAL, OBJ, ClassRef, ImportRef, InstRef, Map, Vals
from ptmlock.scan.wrappers import Wrapper, wrapper_param

_IGNORE = re.compile(r"#\s*ptmlock:\s*ignore\b")
_LINES = re.compile(r"\r\n|\r|\n")
_DELEGATORS = frozenset({"from_pretrained", "_from_pretrained", "from_single_file"})
_TV_KWARGS = ("weights", "weights_backbone", "pretrained", "pretrained_backbone")  # torchvision: what makes a load


def analyze(tree: ast.Module, text: str, path: str) -> list[Finding]:
    """Every model load in one parsed module, in source order."""
    return _Analyzer(tree, text, path).run()


def analyze_module(tree: ast.Module, text: str, path: str, keep: Callable[[ModuleIndex], None] | None = None
                   ) -> tuple[list[Finding], list[Wrapper]]:
    """`analyze`, plus the module's functions that wrap a loader (`scan.wrappers`); `keep` is
    handed the module's index, for the wrapper pass to reuse instead of parsing again."""
    analyzer = _Analyzer(tree, text, path)
    if keep is not None:
        keep(analyzer.ix)
    return analyzer.run(), analyzer.wrappers


class _Analyzer:
    def __init__(self, tree: ast.Module, text: str, path: str) -> None:
        self.ix = ModuleIndex(tree)
        self.r = Resolver(self.ix)
        self.text = text
        self.path = path
        self._lines: list[str] | None = None
        self.wrappers: list[Wrapper] = []

    def run(self) -> list[Finding]:
        out: list[Finding] = []
        for call in self.ix.calls:
            matched = self._match(call) or _urls.named_helper(self.r, call)
            if matched is None:
                continue
            loader, ctx = matched
            if loader.kind in (K_URL, K_FETCH):
                sites = _urls.helper_calls(self.r, call, loader, ctx)
                self._note_wrapper(call, loader, ctx)
                if sites is not None:  # a download helper: its callers here are the load sites
                    out.extend(self._at(site, loader, ids) for site, ids in sites)
                    continue
            finding = self._finding(call, loader, ctx)
            if finding is not None:
                out.append(finding)
        return sorted(out, key=lambda f: (f.line, f.col))

    def _note_wrapper(self, call: ast.Call, loader: Loader, ctx: Ctx) -> None:
        """A function passing its URL parameter to a fetcher: a wrapper for the other modules."""
        expr = through_param(_arg(call, loader.id_pos, loader.id_kws), ctx, self.ix)
        wrapped, level = wrapper_param(expr, ctx), _urls.param_level(expr, ctx)
        chain = [(f.name, p, i) for f, p, i in _urls.helper_chain(self.r, *level)[0][1:]] if level else []
        for w in [wrapped] + chain if wrapped is not None else []:  # the helper, and the helpers calling it
            self.wrappers.append(Wrapper(self.path, *w, loader.loader, loader.library, loader.hub, "model"))

    def _at(self, site: ast.Call, loader: Loader, ids: _Ids) -> Finding:
        """A call of a download helper in its own module, reported as the load it makes."""
        name = site.func.id if isinstance(site.func, ast.Name) else "<helper>"
        stem = self.path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py")
        return Finding(path=self.path, line=site.lineno, col=self._col(site), loader=f"{stem}.{name}",
                       library=loader.library, model_ids=ids.ids, revision=ids.revision, hub=ids.hub,
                       repo_type="model", ignored=self._ignored(site))

    # -- which calls are loads ----------------------------------------------------------------

    def _match(self, call: ast.Call) -> tuple[Loader, Ctx] | None:
        f = call.func
        qualname = self.ix.static_qualname(f)
        loader = function_loader(qualname) if qualname is not None else None
        method = isinstance(f, ast.Attribute) and f.attr in METHODS
        if loader is None and not method:
            head = f
            while isinstance(head, ast.Attribute):
                head = head.value
            if not (isinstance(head, ast.Name) and head.id in self.ix.alias_names):
                return None
        ctx = self.ix.locate(call)
        if loader is None and qualname is None:  # through a local alias: `hub = torch.hub`
            qualname = next((v.qualname for v in self.r.values(f, ctx) if isinstance(v, ImportRef)), None)
            loader = function_loader(qualname) if qualname is not None else None
        if loader is not None:
            return loader, ctx
        if not isinstance(f, ast.Attribute) or f.attr not in METHODS:
            return None
        if f.attr in HF_METHODS and self._delegating(ctx):
            return None
        receiver = self._receiver(f.value, ctx)
        found = method_loader(f.attr, receiver, _written(f.value), frozenset(self.ix.libraries))
        return (found, ctx) if found is not None else None

    @staticmethod
    def _delegating(ctx: Ctx) -> bool:
        """`super().from_pretrained(...)` inside a `from_pretrained` override forwards the caller's id."""
        for frame in reversed(ctx):
            if isinstance(frame.scope, FUNCTIONS):
                return frame.scope.name in _DELEGATORS
        return False

    def _receiver(self, recv: ast.expr, ctx: Ctx) -> str | None:
        """The imported class a receiver refers to (through aliases and local subclasses)."""
        found = self.ix.static_qualname(recv)
        if found is not None:
            return found
        for v in self.r.values(recv, ctx):
            if isinstance(v, ImportRef):
                return v.qualname
            if isinstance(v, (ClassRef, InstRef)):
                base = self._known_base(v.node, set())
                if base is not None:
                    return base
        return None

    def _known_base(self, cls: ast.ClassDef, seen: set[int]) -> str | None:
        """The first base (through local subclasses) from a Hub library, else from a library
        known not to load from the Hub (`class Net(nn.Module, PyTorchModelHubMixin)` is a Hub class)."""
        found = self._bases(cls, seen)
        return next((q for q in found if q.split(".")[0] in KNOWN_LIBRARIES), found[0] if found else None)

    def _bases(self, cls: ast.ClassDef, seen: set[int]) -> list[str]:
        seen.add(id(cls))
        out: list[str] = []
        for base in cls.bases:
            for v in self.r.at(base, 0):
                if isinstance(v, ImportRef) and v.qualname.split(".")[0] in (*KNOWN_LIBRARIES, *NOT_HUB_LIBRARIES):
                    out.append(v.qualname)
                elif isinstance(v, ClassRef) and id(v.node) not in seen:
                    out.extend(self._bases(v.node, seen))
        return out

    # -- what a load loads --------------------------------------------------------------------

    def _finding(self, call: ast.Call, loader: Loader, ctx: Ctx) -> Finding | None:
        kind = loader.kind
        if kind == K_TIMM:
            ids = self._timm(call, ctx)
        elif kind == K_OPEN_CLIP:
            ids = self._open_clip(call, loader, ctx)
        elif kind == K_TORCHVISION:
            ids = self._torchvision(call, loader, ctx)
        elif kind == K_TORCH_HUB:
            ids = _urls.torch_hub_ids(self.r, call, ctx)
        elif kind == K_CLIP:
            ids = _urls.clip_ids(self.r, call, ctx)
        elif kind == K_GEFFNET:
            pretrained = _arg(call, 1, ("pretrained",))
            ids = _urls.geffnet_ids(self.r, call, ctx, pretrained is _MISSING or self._falsy(pretrained, ctx))
        elif kind == K_FLASHRANK:
            ids = _urls.flashrank_ids()
        else:
            expr = _arg(call, loader.id_pos, loader.id_kws)
            if expr is _MISSING:
                ids = self._task_default(call, ctx) if kind == K_PIPELINE else _DYNAMIC if _has_star(call) else _SKIP
            elif kind in (K_URL, K_FETCH):
                generic = kind == K_FETCH and not _urls.model_downloader(ctx)
                ids = _urls.url_ids(self.r.values(expr, ctx), expr, generic, _urls.in_downloader(ctx, call))
            else:
                ids = self._hf_ids(expr, ctx, call)
                wrapped = wrapper_param(expr, ctx)
                if wrapped is not None:
                    self.wrappers.append(Wrapper(self.path, *wrapped, loader.loader, loader.library, loader.hub,
                                                 "model"))
            if kind == K_PIPELINE and ids.kind == "object":  # a model object, but a tokenizer by id
                tokenizer = _arg(call, 3, ("tokenizer",))
                if tokenizer is not _MISSING:
                    by_id = self._hf_ids(tokenizer, ctx)
                    ids = by_id if by_id.kind == "ids" else ids
        if ids.kind in ("local", "object"):
            return None
        if ids.kind == "ids" and ids.hub == HF and kind in (K_HF, K_PIPELINE):
            fetched = [r for i in ids.ids for r in [identity.fetched_repo(i, loader.library, loader.loader)] if r]
            if not fetched:  # bare names only: local directories
                return None
            ids = replace(ids, ids=tuple(dict.fromkeys(fetched)))
        revision = ids.revision
        repo_type = ids.repo_type or "model"
        if kind in (K_HF, K_PIPELINE):
            revision = _single(self._kwarg(call, "revision", ctx)) or revision
        if loader.library == "huggingface_hub":
            rt = self._kwarg(call, "repo_type", ctx)
            if rt:
                types = [v for v in rt if isinstance(v, str)]
                if types and all(t == "space" for t in types):
                    return None
                repo_type = "dataset" if "dataset" in types else repo_type
        return Finding(
            path=self.path, line=call.lineno, col=self._col(call), loader=loader.loader, library=loader.library,
            model_ids=ids.ids if ids.kind == "ids" else None, revision=revision,
            hub=ids.hub if ids.kind == "ids" else loader.hub, repo_type=repo_type, ignored=self._ignored(call),
        )

    def _task_default(self, call: ast.Call, ctx: Ctx) -> _Ids:
        """`pipeline("task")` with no model: the task's default model at transformers' pinned revision."""
        task = _single(self.r.values(_arg(call, 0, ("task",)), ctx))
        found = identity.pipeline_default(task) if task else None
        return _DYNAMIC if found is None else _Ids("ids", (found.id,), HF, found.revision)

    def _hf_ids(self, expr: ast.expr, ctx: Ctx, call: ast.Call | None = None) -> _Ids:
        if _dir_like(expr) or (isinstance(expr, ast.Constant) and expr.value is None):  # (None, config=...)
            return _SKIP
        vals = self.r.values(expr, ctx)
        several = call is not None and sum(isinstance(v, str) for v in vals) > 1  # else nothing to narrow
        mapping = subscript_base(expr, ctx[-1].scope) if several else None
        if mapping is not None and call is not None:  # `path = MODELS[name]` under `if name.startswith(...)`
            allowed = allowed_ids(expr, ctx[-1].scope, call, self.r.values(mapping, ctx))
            vals = vals if allowed is None else tuple(v for v in vals if not isinstance(v, str) or v in allowed)
        return self._classify(vals, expr, classify_id)

    def _classify(self, vals: Vals, expr: ast.expr | None, how: Callable[[str], Classified]) -> _Ids:
        hf: list[Classified] = []
        urls: list[str] = []
        local = LOCAL in vals
        for s in vals:
            if not isinstance(s, str):
                continue
            c = how(s)
            if c.kind == "hf":
                hf.append(c)
            elif c.kind == "url":
                urls.append(c.value)
            elif c.kind == "local":
                local = True
        if hf:
            ids = tuple(dict.fromkeys(c.value for c in hf))
            revisions = {c.revision for c in hf}
            types = {c.repo_type for c in hf}
            return _Ids("ids", ids, HF, revisions.pop() if len(revisions) == 1 else None,
                        types.pop() if len(types) == 1 else None)
        if urls:
            return _Ids("ids", tuple(dict.fromkeys(urls)), URL)
        if local or (expr is not None and not any(isinstance(v, str) for v in vals) and _dir_like(expr)):
            return _SKIP
        # an object only when nothing else came back: a flag among the values (`config.labels_encoder`
        # guessed by attribute name from a `labels_encoder=False` parameter) says the guess is mixed
        if vals and not any(isinstance(v, (str, bool, int, float)) or v is None for v in vals) and any(
                v is OBJ or isinstance(v, InstRef) for v in vals):
            return _Ids("object")
        return _DYNAMIC

    def _timm(self, call: ast.Call, ctx: Ctx) -> _Ids:
        pretrained = _arg(call, 1, ("pretrained",))
        if pretrained is _MISSING or self._falsy(pretrained, ctx):
            return _SKIP
        overlay = _arg(call, None, ("pretrained_cfg_overlay",))
        if overlay is not _MISSING and "file" in ast.unparse(overlay):  # weights from a local file
            return _SKIP
        name = _arg(call, 0, ("model_name",))
        if name is _MISSING:
            return _DYNAMIC
        return self._classify(self.r.values(name, ctx), None, timm_id)

    def _open_clip(self, call: ast.Call, loader: Loader, ctx: Ctx) -> _Ids:
        name = _arg(call, 0, ("model_name",))
        tag_expr = _arg(call, 1, ("pretrained",))
        names = [s for s in self.r.values(name, ctx) if isinstance(s, str)] if name is not _MISSING else []
        tags: list[str | None] = [None]
        tag_given = tag_expr is not _MISSING and not self._falsy(tag_expr, ctx)
        if tag_given:
            tag_vals = self.r.values(tag_expr, ctx)
            tags = [s for s in tag_vals if isinstance(s, str)] or [None]
            if LOCAL in tag_vals:
                return _SKIP
        if not names:
            return _DYNAMIC if tag_given or loader.loader.endswith("from_pretrained") else _SKIP
        found = [open_clip_id(n, t) for n in names for t in tags]
        hf = [c for c in found if c.kind == "hf"]
        url = [c for c in found if c.kind == "url"]
        if hf and not url:
            return _Ids("ids", tuple(dict.fromkeys(c.value for c in hf)), HF,
                        hf[0].revision if len({c.revision for c in hf}) == 1 else None)
        if url or hf:
            return _Ids("ids", tuple(dict.fromkeys([c.value for c in hf] + [c.value for c in url])), URL)
        if tag_given and tags == [None]:
            return _DYNAMIC
        return _SKIP

    def _torchvision(self, call: ast.Call, loader: Loader, ctx: Ctx) -> _Ids:
        loads = False
        revision: str | None = None
        given = [(kw, e, ctx) for kw in _TV_KWARGS if (e := _arg(call, None, (kw,))) is not _MISSING]
        for kw, expr, at in given or forwarded(call, ctx, self.ix, _TV_KWARGS):  # or through **kwargs
            vals = self.r.values(expr, at)
            if kw.startswith("weights") and not (vals and all(v is None for v in vals)):
                loads = True
                revision = revision or _weights_text(expr, vals, self.ix.static_qualname(expr))
            elif kw.startswith("pretrained") and not self._falsy(expr, at):
                loads = True
        if not loads:
            return _SKIP
        if loader.id_pos is None:
            builder = loader.loader.rsplit(".", 1)[-1]
            known = identity.torchvision(builder, revision, pretrained=True)
            if known is not None:
                return _Ids("ids", (known.id,), URL)
            return _Ids("ids", (f"torchvision:{builder}",), URL, revision)
        name = _arg(call, 0, ("name",))
        names = [s for s in self.r.values(name, ctx) if isinstance(s, str)] if name is not _MISSING else []
        if not names:
            return _Ids("dynamic", revision=revision)
        found = [identity.torchvision(n, revision, pretrained=True) for n in names]
        if all(f is not None for f in found):
            return _Ids("ids", tuple(dict.fromkeys(f.id for f in found if f is not None)), URL)
        return _Ids("ids", tuple(dict.fromkeys(f"torchvision:{n.lower()}" for n in names)), URL, revision)

    # -- helpers ------------------------------------------------------------------------------

    def _falsy(self, expr: ast.expr, ctx: Ctx) -> bool:
        """Statically false (`pretrained=False`, a constant False, `None`); unknown is not false."""
        vals = self.r.values(expr, ctx)
        return bool(vals) and all(v is None or v is False or v == 0 or v == "" for v in vals)

    def _kwarg(self, call: ast.Call, name: str, ctx: Ctx) -> Vals:
        """A keyword argument's values, also when passed in a `**kwargs` dict."""
        expr = _arg(call, None, (name,))
        if expr is not _MISSING:
            return self.r.values(expr, ctx)
        out: list[object] = []
        for k in call.keywords:
            if k.arg is None:
                for m in self.r.values(k.value, ctx):
                    if isinstance(m, Map):
                        out.extend(v for keys, vals in m.entries if name in keys for v in vals)
        return tuple(out)

    def _lines_of(self) -> list[str]:
        if self._lines is None:
            self._lines = _LINES.split(self.text)
        return self._lines

    def _col(self, call: ast.Call) -> int:
        lines = self._lines_of()
        line = lines[call.lineno - 1] if call.lineno <= len(lines) else ""
        if line.isascii():
            return call.col_offset + 1
        return len(line.encode("utf-8")[: call.col_offset].decode("utf-8", "ignore")) + 1

    def _ignored(self, call: ast.Call) -> bool:
        lines = self._lines_of()
        return any(_IGNORE.search(line) for line in lines[call.lineno - 1: (call.end_lineno or call.lineno)])



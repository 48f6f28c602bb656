"""Loads by URL and by the tables of packages that map a name to a URL (issue 26): torch's and
other packages' download helpers, generic fetchers (urlopen, requests.get, wget, pooch) that count
only for URLs naming model files, OpenAI CLIP, geffnet and flashrank; and project functions that
pass their URL parameter on to one of them (download helpers), whose callers are the load sites.
"""
from __future__ import annotations

import ast
import re

from ptmlock.scan.args import DYNAMIC, MISSING, SKIP, Ids, arg, dir_like, has_star
from ptmlock.scan.forward import through_param
from ptmlock.scan.loaders import HF, K_FETCH, K_URL, TORCHHUB, URL, Loader, classify_id, model_url, split_at
from ptmlock.scan.resolve import Resolver
from ptmlock.scan.scopes import FUNCTIONS, Ctx
from ptmlock.scan.tables import CLIP_MODELS, FLASHRANK_REPO, GEFFNET_URLS
from ptmlock.scan.values import LOCAL, PARTIAL, Seq, Vals, members

_WEIGHTS_WORDS = re.compile(r"weight|model|ckpt|checkpoint|pretrain", re.I)
# the names `named_helper` reads as download helpers (the pre-filter's needles spell each one)
NAMED_HELPER = re.compile(r"download_(?:weight|model|ckpt|checkpoint|pretrain)")
TORCH_HUB_REPO = re.compile(r"[\w.\-]+/[\w.\-]+\Z", re.ASCII)


def url_ids(vals: Vals, expr: ast.expr | None, generic: bool, downloader: bool = False) -> Ids:
    """The URLs (hub "url") or Hub repos (a huggingface.co file URL) among `vals`; a generic
    fetcher keeps only URLs that name model files, and is a dynamic load only in a `downloader`
    (a function named like one: `_download_model_files`), where a run-time URL fetches a model."""
    urls: list[str] = []
    repos: list[tuple[str, str | None]] = []
    vals += tuple(x for v in vals if isinstance(v, Seq) for item in v.items for x in item)  # mirrors: each
    for s in vals:
        if not isinstance(s, str) or "://" not in s or (generic and not model_url(s)):
            continue
        c = classify_id(s)
        if c.kind == "hf":
            repos.append((c.value, c.revision))
        elif c.kind == "url" and PARTIAL not in s:
            urls.append(c.value)
    if urls:
        return Ids("ids", tuple(dict.fromkeys(urls + [r for r, _ in repos])), URL)
    if repos:
        revs = {rev for _, rev in repos}
        return Ids("ids", tuple(dict.fromkeys(r for r, _ in repos)), HF, revs.pop() if len(revs) == 1 else None)
    if generic and downloader and not any(isinstance(s, str) and PARTIAL not in s for s in vals):
        return DYNAMIC
    if generic or LOCAL in vals or any(isinstance(s, str) and PARTIAL not in s for s in vals) \
            or (expr is not None and dir_like(expr)):
        return SKIP
    return DYNAMIC


def clip_ids(r: Resolver, call: ast.Call, ctx: Ctx) -> Ids:
    """`clip.load("ViT-L/14")`: the URL OpenAI CLIP's table names; a path is a local load."""
    name = arg(call, 0, ("name",))
    if name is MISSING:
        return SKIP
    names = [s for s in r.values(name, ctx) if isinstance(s, str)]
    known = [CLIP_MODELS[n] for n in names if n in CLIP_MODELS]
    if known:
        return Ids("ids", tuple(dict.fromkeys(known)), URL)
    return SKIP if names or dir_like(name) else DYNAMIC


def geffnet_ids(r: Resolver, call: ast.Call, ctx: Ctx, falsy: bool) -> Ids:
    """`geffnet.create_model(name, pretrained=True)`: the URL of geffnet's table for `name`."""
    if falsy:
        return SKIP
    name = arg(call, 0, ("model_name",))
    names = [s for s in r.values(name, ctx) if isinstance(s, str)] if name is not MISSING else []
    if not names:
        return DYNAMIC
    return Ids("ids", tuple(dict.fromkeys(GEFFNET_URLS.get(n, f"geffnet:{n}") for n in names)), URL)


def flashrank_ids() -> Ids:
    """`flashrank.Ranker(model_name=...)`: every model is a zip file in one Hub repo."""
    return Ids("ids", (FLASHRANK_REPO,), HF, "main")


def fetches_weights(helper: str) -> bool:
    """A download helper named for what it fetches (`download_weights_if_necessary`, `load_model_file`):
    every URL given to it is a model's, whatever its suffix (`.dat.bz2`, `.prototxt`, a Drive link)."""
    return bool(_WEIGHTS_WORDS.search(helper))


def named_helper(r: Resolver, call: ast.Call) -> tuple[Loader, Ctx] | None:
    """A call of another module's (or package's) download helper that says what it fetches,
    `weight_utils.download_weights_if_necessary(file_name=..., source_url=WEIGHTS_URL)`: a load of
    the URL argument (a keyword named `*url`, else the first argument that holds a URL). A helper
    defined in the module itself is read from its body instead (`helper_calls`)."""
    name = call.func.attr if isinstance(call.func, ast.Attribute) else \
        call.func.id if isinstance(call.func, ast.Name) else None
    if name is None or not NAMED_HELPER.search(name) or (isinstance(call.func, ast.Name) and name in r.ix.functions):
        return None
    ctx = r.ix.locate(call)
    qualname = r.ix.static_qualname(call.func) or name
    for k in call.keywords:
        if k.arg and k.arg.lower().endswith(("url", "urls")):
            return Loader(qualname, "url", K_URL, None, (k.arg,), URL), ctx
    for i, a in enumerate(call.args):
        if isinstance(a, ast.Starred):
            break
        vals = r.values(a, ctx)
        if any(isinstance(v, str) and "://" in v for v in vals + members(vals)):
            return Loader(qualname, "url", K_URL, i, (), URL), ctx
    return None


def model_downloader(ctx: Ctx) -> bool:
    """Is the innermost function a downloader of models (`download_files_from_github(path, model_name)`:
    named for downloading, and it or a parameter named for models)? Every URL it fetches is a model's."""
    func = ctx[-1].scope if ctx else None
    if not isinstance(func, FUNCTIONS) or "download" not in func.name.lower():
        return False
    a = func.args
    return any(_WEIGHTS_WORDS.search(n) for n in [func.name, *(x.arg for x in a.posonlyargs + a.args + a.kwonlyargs)])


def in_downloader(ctx: Ctx, call: ast.Call | None = None) -> bool:
    """Is the innermost function around a call named like a downloader, or does the call save
    to a place named for weights (`gdown.download(cfg.url, os.path.join(ckpt_dir, ckpt_name))`)?"""
    if any(isinstance(f.scope, FUNCTIONS) and "download" in f.scope.name.lower() for f in ctx[-1:]):
        return True
    rest = [*call.args[1:], *(k.value for k in call.keywords if k.arg not in (None, "url"))] if call else []
    return any(isinstance(n, ast.Name) and _WEIGHTS_WORDS.search(n.id) for a in rest for n in ast.walk(a))


def helper_calls(r: Resolver, call: ast.Call, loader: Loader, ctx: Ctx) -> list[tuple[ast.Call, Ids]] | None:
    """A download helper: `call` passes the URL parameter of the module-level function around it
    straight to a fetcher (or, `helper_chain`, through a chain of such functions). Their calls in
    this module whose argument resolves to URLs are the load sites, each with its URLs; None when
    `call` is no helper's or no call of it resolves."""
    level = param_level(through_param(arg(call, loader.id_pos, loader.id_kws), ctx, r.ix), ctx)
    if level is None:
        return None
    out: list[tuple[ast.Call, Ids]] = []
    levels, links = helper_chain(r, *level)
    for func, param, index in levels:
        generic = loader.kind == K_FETCH and not fetches_weights(func.name)
        for site in r.ix.calls_by_name.get(func.name, []):
            given = arg(site, index, (param,)) if isinstance(site.func, ast.Name) else MISSING
            if given is MISSING or id(site) in links:  # passes its caller's URL on: the caller is the site
                continue
            found = url_ids(r.at(given, 0), given, generic and not loads_a_model(r.ix.locate(site)))
            if found.kind == "ids":
                out.append((site, found))
    return out or None


Level = tuple[ast.FunctionDef | ast.AsyncFunctionDef, str, int | None]  # (function, parameter, position)
_MAX_LEVELS = 4


def helper_chain(r: Resolver, func: ast.FunctionDef | ast.AsyncFunctionDef, param: str,
                 index: int | None) -> tuple[list[Level], set[int]]:
    """The helper, and each module-level function that passes its own parameter straight on to a
    helper already found (pytorch-pretrained-biggan: `cached_path(url)` -> `get_from_cache(url)` ->
    `http_get(url)` -> `requests.get(url)`), at most four levels up; each is a download helper.
    Also the calls that link one level to the next (by `id`), which are no load sites."""
    levels: list[Level] = [(func, param, index)]
    links: set[int] = set()
    seen = {func.name}
    for depth in range(_MAX_LEVELS):
        if depth >= len(levels):
            break
        inner, p, i = levels[depth]
        for site in r.ix.calls_by_name.get(inner.name, []):
            given = arg(site, i, (p,)) if isinstance(site.func, ast.Name) else MISSING
            if given is MISSING:
                continue
            site_ctx = r.ix.locate(site)
            outer = param_level(through_param(given, site_ctx, r.ix), site_ctx)
            if outer is not None:
                links.add(id(site))
                if outer[0].name not in seen:
                    seen.add(outer[0].name)
                    levels.append(outer)
    return levels, links


def param_level(expr: ast.expr | object, ctx: Ctx) -> Level | None:
    """(function, parameter, position) when `expr` is a bare parameter of the module-level function
    around it; else None."""
    if not isinstance(expr, ast.Name) or len(ctx) != 2 or not isinstance(ctx[-1].scope, FUNCTIONS):
        return None
    func = ctx[-1].scope
    positional = [a.arg for a in func.args.posonlyargs + func.args.args]
    if expr.id in positional:
        return func, expr.id, positional.index(expr.id)
    return (func, expr.id, None) if expr.id in [a.arg for a in func.args.kwonlyargs] else None


def loads_a_model(ctx: Ctx) -> bool:
    """Is the innermost function around a call named for loading models (`from_pretrained`,
    `load_model`)? A download helper called there fetches the model's files, whatever their
    suffix (its `config.json` beside its `pytorch_model.bin`)."""
    func = next((f.scope for f in reversed(ctx) if isinstance(f.scope, FUNCTIONS)), None)
    return func is not None and bool(_WEIGHTS_WORDS.search(func.name))


def torch_hub_ids(r: Resolver, call: ast.Call, ctx: Ctx) -> Ids:
    """`torch.hub.load("owner/repo[:ref]", entry)`: the repo; `source="local"` or a path is local."""
    source = arg(call, None, ("source",))
    if source is not MISSING and "local" in r.values(source, ctx):
        return SKIP
    repo = arg(call, 0, ("repo_or_dir",))
    if repo is MISSING:
        return DYNAMIC if has_star(call) else SKIP
    vals = r.values(repo, ctx)
    repos: list[tuple[str, str | None]] = []
    local = LOCAL in vals
    for s in vals:
        if isinstance(s, str):
            name, ref = split_at(s.strip(), ":")
            if TORCH_HUB_REPO.match(name) and not s.startswith((".", "/", "~")):
                repos.append((name, ref))
            else:
                local = True
    if repos:
        refs = {ref for _, ref in repos}
        return Ids("ids", tuple(dict.fromkeys(n for n, _ in repos)), TORCHHUB,
                    refs.pop() if len(refs) == 1 else None)
    return SKIP if local or dir_like(repo) else DYNAMIC

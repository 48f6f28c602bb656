"""The weight URLs a torchhub repo's entry points download (issue 26: the MiDaS pattern).

`torch.hub.load("intel-isl/MiDaS", "DPT_Large")` runs `DPT_Large` from the repo's `hubconf.py`,
which calls `torch.hub.load_state_dict_from_url("https://.../dpt_large_384.pt")`. `lock` reads
`hubconf.py` at the pinned commit, and the in-repo modules it imports directly (one level: the
URL of `from dinov2.hub.backbones import dinov2_vits14` lives in `dinov2/hub/backbones.py`),
finds the URL loads with the scanner (`scan.scanner.scan_source`: the same rules as `ptmlock
scan`), and gives each URL the entry points that reach it. Which entry points count is the
model's `entries` in ptm.toml (absent: every public one, as `torch.hub.list` shows them).

An entry point reaches a URL load when the load is in its body, in a top-level function or class
of the same file that it names, or in a function it imports from a module read here (followed
transitively within the files read). A load at module level runs on import: every entry point
reaches it. Only http(s) URLs naming a file are kept. Files over `MAX_SOURCE` bytes and modules
past `MAX_MODULES` are not read; code that does not parse gives no URL.
"""
from __future__ import annotations

import ast
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from ptmlock.constants import HUB_URL
from ptmlock.deps.find import Edge
from ptmlock.errors import ManifestError, UnsafeHubAnswerError
from ptmlock.lockfile.model import LockedModel
from ptmlock.names import closest, model_id_problem

HUBCONF = "hubconf.py"
MAX_SOURCE = 1024 * 1024  # bytes of one file read (MiDaS' hubconf.py is 15 KB)
MAX_MODULES = 32  # in-repo modules hubconf.py imports that are read
MAX_URLS = 256  # weight URLs one torchhub model may add (each is downloaded once by `lock`)
_SHOWN = 4  # entry point names a reason lists before "and N more"


@dataclass(frozen=True)
class WeightUrl:
    """A URL load at `path:line`, reached by the (sorted) entry points `entries`."""

    url: str
    path: str
    line: int
    entries: tuple[str, ...]

    @property
    def reason(self) -> str:
        """What ptm.lock records: `weights of torch.hub entry X (hubconf.py:12)`."""
        names = ", ".join(self.entries[:_SHOWN])
        if len(self.entries) > _SHOWN:
            names += f" and {len(self.entries) - _SHOWN} more"
        word = "entry" if len(self.entries) == 1 else "entries"
        return f"weights of torch.hub {word} {names} ({self.path}:{self.line})"


class _Module:
    """One parsed file: its top-level definitions (name -> node) and imports (name -> (module, attr))."""

    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.tree = tree
        self.defs: dict[str, ast.stmt] = {}
        self.imports: dict[str, tuple[str, str | None]] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    if alias.name != "*":
                        self.imports[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = (alias.name, None)
                    else:  # `import a.b` binds `a`
                        self.imports[alias.name.split(".")[0]] = (alias.name.split(".")[0], None)

    def owner(self, line: int) -> str | None:
        """The top-level function or class around `line`, or None at module level."""
        for name, node in self.defs.items():
            if node.lineno <= line <= (node.end_lineno or node.lineno):
                return name
        return None


def parse(path: str, text: str) -> _Module | None:
    """`text` parsed, or None when it is not Python this interpreter reads."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _Module(path, ast.parse(text, filename=path))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def defined_entries(hubconf: _Module, modules: dict[str, _Module] | None = None) -> list[str]:
    """Every name `torch.hub.load(repo, name)` can call: top-level functions, classes and names
    imported with `from m import name` (a name that is an in-repo module read here, `from pkg
    import mod`, is not callable)."""
    names = set(hubconf.defs) | {n for n, (module, attr) in hubconf.imports.items()
                                 if attr is not None and f"{module}.{attr}" not in (modules or {})}
    return sorted(names)


def public_entries(hubconf: _Module, modules: dict[str, _Module] | None = None) -> list[str]:
    """The entry points `torch.hub.list` shows: `defined_entries` not starting with `_`."""
    return [n for n in defined_entries(hubconf, modules) if not n.startswith("_")]


def module_candidates(hubconf: _Module) -> list[tuple[str, str]]:
    """(dotted module, path) for every in-repo file hubconf.py's imports may name, in import order."""
    out: list[tuple[str, str]] = []
    for module, attr in hubconf.imports.values():
        for dotted in (module, f"{module}.{attr}") if attr is not None else (module,):
            base = dotted.replace(".", "/")
            out.extend([(dotted, f"{base}.py"), (dotted, f"{base}/__init__.py")])
    return list(dict.fromkeys(out))


def weight_urls(hubconf: _Module, modules: dict[str, _Module], entries: tuple[str, ...] | None,
                scan: Callable[[str, str], list[tuple[str, int]]], texts: dict[str, str]) -> list[WeightUrl]:
    """The URL loads of `hubconf` and the read `modules` (dotted name -> module) reached by
    `entries` (None: every public entry point). `scan(path, text)` gives (url, line) pairs."""
    wanted = public_entries(hubconf, modules) if entries is None else list(entries)
    by_path = {m.path: m for m in [hubconf, *modules.values()]}
    reach: dict[tuple[str, str | None], set[str]] = {}  # (path, owner) -> entry points reaching it
    for entry in wanted:
        for spot in _reached(entry, hubconf, modules):
            reach.setdefault(spot, set()).add(entry)
    found: dict[str, WeightUrl] = {}
    for path, module in by_path.items():
        for url, line in scan(path, texts[path]):
            owner = module.owner(line)
            names = set(wanted) if owner is None else reach.get((path, owner), set())
            if not names or not _usable(url):
                continue
            old = found.get(url)
            if old is None:
                found[url] = WeightUrl(url, path, line, tuple(sorted(names)))
            else:
                found[url] = WeightUrl(url, old.path, old.line, tuple(sorted(set(old.entries) | names)))
    return [found[u] for u in sorted(found)]


def _reached(entry: str, hubconf: _Module, modules: dict[str, _Module]) -> set[tuple[str, str | None]]:
    """Every (path, top-level name) entry point `entry` can run, within the files read."""
    seen: set[tuple[str, str | None]] = set()
    todo = [(hubconf, entry)]
    while todo:
        module, name = todo.pop()
        if (module.path, name) in seen:
            continue
        if name not in module.defs:
            target = _imported(module, name, modules)
            if target is not None:
                todo.append(target)
            continue
        seen.add((module.path, name))
        for node in ast.walk(module.defs[name]):
            if isinstance(node, ast.Name):
                if node.id in module.defs or node.id in module.imports:
                    todo.append((module, node.id))
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                imported = module.imports.get(node.value.id)  # `mod.func`, `from pkg import mod; mod.func`
                dotted = None if imported is None else (
                    imported[0] if imported[1] is None else f"{imported[0]}.{imported[1]}")
                if dotted is not None and dotted in modules:
                    todo.append((modules[dotted], node.attr))
    return seen


def _imported(module: _Module, name: str, modules: dict[str, _Module]) -> tuple[_Module, str] | None:
    source = module.imports.get(name)
    if source is None or source[1] is None:
        return None
    dotted, attr = source
    if attr is not None and dotted in modules:
        return modules[dotted], attr
    return None


def _usable(url: str) -> bool:
    """An http(s) URL that names a file, valid as a url model's id (others are left to the guard)."""
    if model_id_problem(url, HUB_URL) is not None or len(url) > 2048:
        return False
    from ptmlock.hubs.url import url_filename

    try:
        url_filename(url)
    except ManifestError:
        return False
    return True


# --- reading the files at the pinned commit


def hubconf_edges(model: LockedModel, backend: object) -> list[Edge]:
    """The `hub = "url"` dependencies of torchhub `model`: one edge per weight URL its entry
    points (`model.entries`, None: all) download, with the reason naming file:line and entries.
    `backend` is the torchhub backend (its remote and network rules); `entries = []` reads nothing.

    Raises:
        ManifestError: `entries` names an entry point hubconf.py does not define.
        UnsafeHubAnswerError: hubconf.py is over `MAX_SOURCE` bytes.
        HubError subclasses, IntegrityError: the commit could not be fetched.
    """
    from ptmlock.hubs.torchhub import TorchHubBackend
    from ptmlock.hubs.torchhub_files import CommitFiles, TooLarge
    from ptmlock.scan.scanner import decode_source

    if model.entries == () or not isinstance(backend, TorchHubBackend):
        return []
    with CommitFiles(model, base=backend.base, git=backend.git) as files:
        try:
            raw = files.read(HUBCONF, limit=MAX_SOURCE)
        except TooLarge as e:
            raise UnsafeHubAnswerError(
                f"{HUBCONF} of torchhub repo {model.id!r} at commit {model.commit[:12]} is {e.args[0]} bytes, over the "
                f"{MAX_SOURCE} bytes ptmlock reads to find the weight URLs of its entry points. Set `entries = []` on "
                f"{model.id!r} in ptm.toml to skip reading it, and declare the URLs its entry points download with "
                "hub = \"url\".") from None
        texts = {HUBCONF: decode_source(raw)} if raw is not None else {}
        hubconf = parse(HUBCONF, texts[HUBCONF]) if raw is not None else None
        if hubconf is None:
            _check_entries(model, [], [], "has no" if raw is None else "has a Python syntax error in its")
            return []
        modules: dict[str, _Module] = {}
        candidates = module_candidates(hubconf)
        sizes = files.sizes([path for _, path in candidates])
        for dotted, path in candidates:
            if dotted in modules or path == HUBCONF or sizes.get(path, MAX_SOURCE + 1) > MAX_SOURCE \
                    or len(modules) >= MAX_MODULES:
                continue
            try:
                data = files.read(path, limit=MAX_SOURCE)
            except TooLarge:
                continue
            text = decode_source(data) if data is not None else ""
            module = parse(path, text) if data is not None else None
            if module is not None:
                modules[dotted], texts[path] = module, text
    _check_entries(model, defined_entries(hubconf, modules), public_entries(hubconf, modules), "")
    urls = weight_urls(hubconf, modules, model.entries, _url_loads, texts)
    if len(urls) > MAX_URLS:
        raise UnsafeHubAnswerError(
            f"The entry points of torchhub repo {model.id!r} at commit {model.commit[:12]} download {len(urls)} weight "
            f"URLs, more than the {MAX_URLS} ptmlock locks for one repo (each is downloaded to hash it). Name the entry "
            f"points your code loads with `entries = [...]` on {model.id!r} in ptm.toml.")
    return [Edge(model.id, w.url, None, w.reason, w.path, HUB_URL) for w in urls]


def _url_loads(path: str, text: str) -> list[tuple[str, int]]:
    from ptmlock.scan.scanner import scan_source

    return [(url, f.line) for f in scan_source(path, text) if f.hub == HUB_URL and f.model_ids
            for url in f.model_ids]


def _check_entries(model: LockedModel, defined: list[str], public: list[str], unreadable: str) -> None:
    """`model.entries` must name entry points hubconf.py defines; `unreadable` says why it has none."""
    missing = [e for e in model.entries or () if e not in defined]
    if not missing:
        return
    where = f"torchhub repo {model.id!r} at commit {model.commit[:12]}"
    if unreadable:
        raise ManifestError(f"ptm.toml names entry point {missing[0]!r} of {where}, which {unreadable} {HUBCONF}. "
                            "Remove `entries` from the model, or pin a commit whose hubconf.py defines it.")
    hint = closest(missing[0], public)
    raise ManifestError(
        f"ptm.toml names entry point {missing[0]!r} of {where}, but its {HUBCONF} defines no such entry point"
        + (f" (did you mean {hint!r}?)" if hint else "") + f". Entry points: {', '.join(public) or 'none'}. "
        "Fix `entries` in ptm.toml.")

"""Patch libraries when they are imported, and rebind names other modules already copied.

A `sys.meta_path` finder answers only for the module names an adapter asked for; it lets the
other finders find the module and wraps the loader, so the adapter's patch runs right after the
module body executes and before any importer can copy a name out of it. Modules imported before
`ptmlock.enforce` are patched at activation, and `rebind()` then replaces the copies (`from
huggingface_hub import hf_hub_download`, `functools.partial` around it, bound methods) that
other modules already hold.

Nothing here imports an ML library.
"""
from __future__ import annotations

import _thread
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing`, `types` and `functools` cost import time; `import ptmlock.enforce` must stay cheap
    import types
    from collections.abc import Callable, Iterable
    from typing import Any

    Patch = Callable[[types.ModuleType], None]
    Factory = Callable[[Callable[..., Any]], Callable[..., Any]]

_PATCHES: dict[str, Patch] = {}
_lock = _thread.RLock()
_patched: set[str] = set()
_replaced: dict[int, tuple[Any, Any]] = {}  # id(original) -> (original, wrapper)
_keep: set[tuple[str, str]] = set()  # (module, name) that must keep the original (see hf_hub)
_failures: list[str] = []


def register(patches: dict[str, Patch]) -> None:
    """Ask for `patches[name](module)` to run when module `name` is imported (now, if it already is)."""
    _PATCHES.update(patches)


def keep_original(module: str, name: str) -> None:
    """Never rebind `module.name`: its caller is itself a guarded entry point (no double decision)."""
    _keep.add((module, name))


def install() -> None:
    """Put the finder first on `sys.meta_path` and patch what is already imported."""
    with _lock:
        if not any(isinstance(f, _Finder) for f in sys.meta_path):
            sys.meta_path.insert(0, _Finder())
        already = [name for name in _PATCHES if name in sys.modules]
        for name in already:
            _apply(sys.modules[name])
        if already:
            rebind()


def note_failure(name: str, error: BaseException) -> None:
    """Record that the patch of module `name` failed (its caller says so to the user)."""
    _failures.append(f"{name}: {type(error).__name__}: {error}")


def failures() -> list[str]:
    """Adapters that could not patch their module (the library changed shape), one line each."""
    return list(_failures)


def _apply(module: types.ModuleType, *, fresh: bool = False) -> None:
    """Patch `module` once; `fresh`: its body has just run (again), so patch it whatever was done before."""
    name = module.__name__
    with _lock:
        if name in _patched and not fresh:
            return
        _patched.add(name)
    try:
        _PATCHES[name](module)
    except Exception as e:  # never break the user's import; say which loads are not guarded
        from ptmlock.enforce._warning import PtmlockWarning
        from ptmlock.enforce._where import user_frame, warn

        note_failure(name, e)
        try:
            warn(f"ptmlock could not hook {name} ({type(e).__name__}: {e}): model loads through it may not be "
                 "checked. Run `ptmlock doctor`, and please report it with the library's version.", user_frame())
        except PtmlockWarning:  # `-W error::PtmlockWarning`: still never break the import
            pass


class _Finder:
    """Finds nothing itself: wraps the loader of the modules an adapter patches."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        # A module already patched is found again only when its body is about to run again
        # (`importlib.reload`, or a re-import after `del sys.modules[name]`): patch it again (issue 13).
        if fullname not in _PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, _Finder):
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is not None and hasattr(loader, "exec_module"):
            spec.loader = _Loader(loader)
        return spec


class _Loader:
    """Delegates to the real loader, then runs the patch; the module ends up with the real loader."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _apply(module, fresh=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


# ---------------------------------------------------------------------------
# wrapping


def is_wrapped(obj: object) -> bool:
    """True for a function this module already wrapped."""
    return getattr(obj, "__ptmlock_original__", None) is not None


def wrap_function(owner: Any, name: str, factory: Factory) -> None:
    """Replace `owner.name` (a module function or class attribute) with `factory(original)`."""
    if isinstance(owner, type):  # the raw attribute (classmethod, ...), wherever in the MRO it is defined
        raw = next((k.__dict__[name] for k in owner.__mro__ if name in k.__dict__), None)
    else:
        raw = getattr(owner, name, None)
    if raw is None:
        raise AttributeError(f"{getattr(owner, '__name__', owner)!s} has no {name!r}")
    if isinstance(raw, (classmethod, staticmethod)):
        inner = raw.__func__
        if is_wrapped(inner):
            return
        setattr(owner, name, type(raw)(_make(inner, factory)))
        return
    if is_wrapped(raw):
        return
    setattr(owner, name, _make(raw, factory))


def wrap_methods(module: types.ModuleType, targets: Iterable[tuple[str | None, str]], factory: Factory) -> None:
    """`wrap_function` for each `(class name or None for a module function, attribute)` of `module`;
    a class name "A|B" is A, or B where the module has no A (a class renamed between releases)."""
    for cls_name, attr in targets:
        if cls_name is None:
            owner = module
        else:
            names = cls_name.split("|")
            owner = getattr(module, next((n for n in names if hasattr(module, n)), names[0]))
        wrap_function(owner, attr, factory)


def _make(original: Callable[..., Any], factory: Factory) -> Callable[..., Any]:
    import functools  # patching happens while a library is imported: it has loaded functools already

    wrapper = factory(original)
    functools.update_wrapper(wrapper, original)
    wrapper.__ptmlock_original__ = original  # type: ignore[attr-defined]
    _replaced[id(original)] = (original, wrapper)
    return wrapper


def rebind() -> int:
    """Replace copies of every wrapped original in already-imported modules; returns how many."""
    if not _replaced:
        return 0
    count = 0
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        mod_name = namespace.get("__name__", "")
        for key, value in list(namespace.items()):
            new = _replacement(value)
            if new is not None and (mod_name, key) not in _keep:
                namespace[key] = new
                count += 1
    return count


def _replacement(value: object) -> object | None:
    import functools
    import types

    hit = _replaced.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    if isinstance(value, functools.partial):
        inner = _replaced.get(id(value.func))
        if inner is not None and inner[0] is value.func:
            return functools.partial(inner[1], *value.args, **value.keywords)
    if isinstance(value, types.MethodType):
        inner = _replaced.get(id(value.__func__))
        if inner is not None and inner[0] is value.__func__:
            return types.MethodType(inner[1], value.__self__)
    return None


class ArgSpec:
    """Reads and replaces one argument of a call by name, wherever the caller put it."""

    def __init__(self, fn: Callable[..., Any], *, needs: tuple[str, ...] = ()) -> None:
        """Read `fn`'s signature.

        Raises:
            TypeError: `fn` takes none of the arguments named in `needs`, by name or through
                `**kwargs` (the library changed shape: the hook would not see what it checks).
        """
        import inspect

        params = list(inspect.signature(fn).parameters.values())
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self.positions = {p.name: i for i, p in enumerate(params) if p.kind in kinds}
        named = {p.name for p in params if p.kind != inspect.Parameter.POSITIONAL_ONLY}
        if not any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params):
            missing = [n for n in needs if n not in named and n not in self.positions]
            if missing:
                raise TypeError(f"{getattr(fn, '__qualname__', fn)!s}() takes no {', no '.join(map(repr, missing))} "
                                "argument")

    def get(self, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
        i = self.positions.get(name)
        if i is not None and i < len(args):
            return args[i]
        return kwargs.get(name)

    def set(self, args: tuple[Any, ...], kwargs: dict[str, Any], name: str,
            value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        i = self.positions.get(name)
        if i is not None and i < len(args):
            return args[:i] + (value,) + args[i + 1:], kwargs
        return args, {**kwargs, name: value}

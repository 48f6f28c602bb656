"""Values from calls and from outside an expression: call results (environment defaults, paths, string methods,
user functions), parameters (defaults, call sites, CLI options) and attributes read by name (argparse, fields)."""
from __future__ import annotations

import ast
import itertools
import posixpath
import re
import urllib.parse

from ptmlock.scan.forward import kwargs_owner
from ptmlock.scan.scopes import FUNCTIONS, Ctx
from ptmlock.scan.values import (
    LOCAL,
    MAX_ALTS,
    MAX_SITES,
    OBJ,
    PARTIAL,
    RUNTIME,
    ClassRef,
    FuncRef,
    ImportRef,
    InstRef,
    Map,
    ResolverBase,
    Seq,
    Vals,
    int_range,
    last_name,
    members,
    option_dest,
    partial_ok,
    product,
    safe_format,
    strs,
    union,
    unpack,
)

_ENV_GETTERS = frozenset({"os.environ.get", "os.getenv", "os.environ.setdefault"})
_PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.WindowsPath"})
_FIELD_FUNCS = frozenset({"field", "Field", "ib", "attrib", "Option", "Argument", "option"})
_STR_METHODS = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "casefold"})
_JOINS = frozenset({"os.path.join", "posixpath.join", "urllib.parse.urljoin"})
_KEY = re.compile(r"[A-Za-z_][\w.-]*")  # a settings key, not a URL (`session.get("https://...", params)`)
_FLAG_ACTIONS = {"store_true": True, "store_false": False, "BooleanOptionalAction": True}


class CallsMixin(ResolverBase):
    """The call, parameter and attribute-by-name half of `Resolver`."""

    def param_values(self, func: ast.FunctionDef | ast.AsyncFunctionDef, outer: ast.AST | None, param: str,
                     d: int) -> Vals:
        """A parameter's default, click/typer option and the arguments its call sites pass."""
        a = func.args
        positional = a.posonlyargs + a.args
        defaults = dict(zip([x.arg for x in positional[len(positional) - len(a.defaults):]], a.defaults))
        defaults.update((x.arg, v) for x, v in zip(a.kwonlyargs, a.kw_defaults) if v is not None)
        out = [self.at(defaults[param], d)] if param in defaults else []
        out.append(self._cli_option(func, param, d))
        out.append(self._call_sites(func, param, outer, d))
        return union(out)

    def _cli_option(self, func: ast.FunctionDef | ast.AsyncFunctionDef, param: str, d: int) -> Vals:
        """click/typer: `@click.option("--model-name", default=..., type=click.Choice([...]))`."""
        out: list[Vals] = []
        for dec in func.decorator_list:
            if not (isinstance(dec, ast.Call) and isinstance(dec.func, (ast.Attribute, ast.Name))):
                continue
            fname = dec.func.attr if isinstance(dec.func, ast.Attribute) else dec.func.id
            if fname == "parametrize" and len(dec.args) >= 2 and isinstance(dec.args[0], ast.Constant) \
                    and isinstance(dec.args[0].value, str):
                # pytest: @pytest.mark.parametrize("name", [...]) or ("name,rev", [(...), ...])
                names = [n.strip() for n in dec.args[0].value.split(",")]
                if param in names:
                    cases = members(self.at(dec.args[1], d))
                    out.append(cases if len(names) == 1 else unpack(cases, (names.index(param),)))
            elif fname in ("option", "argument") and option_dest(dec, click=True) == param:
                out.extend(self._option_values(dec, d))
        return union(out)

    def _option_values(self, call: ast.Call, d: int) -> list[Vals]:
        out: list[Vals] = []
        for kw in call.keywords:
            if kw.arg == "action" and isinstance(kw.value, ast.Constant) and kw.value.value in _FLAG_ACTIONS:
                out.append((_FLAG_ACTIONS[kw.value.value],))  # the value the flag stores when given
            elif kw.arg == "is_flag" and isinstance(kw.value, ast.Constant) and kw.value.value is True:
                out.append((True, False))
            elif kw.arg == "default":
                out.append(self.at(kw.value, d))
            elif kw.arg == "choices":
                out.append(members(self.at(kw.value, d)))
            elif kw.arg == "type" and isinstance(kw.value, ast.Call) and kw.value.args \
                    and last_name(kw.value.func) == "Choice":
                out.append(members(self.at(kw.value.args[0], d)))
        return out

    def _call_sites(self, func: ast.FunctionDef | ast.AsyncFunctionDef, param: str, outer: ast.AST | None,
                    d: int) -> Vals:
        positional = [a.arg for a in func.args.posonlyargs + func.args.args]
        index = positional.index(param) if param in positional else None
        is_method = isinstance(outer, ast.ClassDef) and not any(
            last_name(x) == "staticmethod" for x in func.decorator_list)
        if is_method and index is not None:
            index -= 1
            if index < 0:
                return ()
        if is_method and func.name == "__init__" and isinstance(outer, ast.ClassDef):  # `Cls(...)`, `cls(...)` in it
            named = self.ix.calls_by_name
            sites = [c for c in named.get(outer.name, []) + named.get("cls", []) if isinstance(c.func, ast.Name)
                     and (c.func.id != "cls" or outer in (f.scope for f in self.ix.locate(c)))]
        else:
            want = ast.Attribute if is_method else ast.Name
            # a method call on an imported class (`AutoTokenizer.from_pretrained(model_dir)`) calls
            # that class's method, not this one
            sites = [c for c in self.ix.calls_by_name.get(func.name, []) if isinstance(c.func, want)
                     and not (isinstance(c.func, ast.Attribute) and self.ix.static_qualname(c.func.value))]
        out: list[Vals] = []
        if not is_method and index is not None:
            out.extend(self._callback_inputs(func.name, index, d))
        for call in sites[:MAX_SITES]:
            expr = next((k.value for k in call.keywords if k.arg == param), None)
            if expr is None and index is not None and index < len(call.args):
                if any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
                    continue
                expr = call.args[index]
            if expr is not None:
                out.append(self.narrowed(call, expr, outer if is_method else None, self.at(expr, d + 3), d))
        return union(out)

    def _callback_inputs(self, name: str, index: int, d: int) -> list[Vals]:
        """Gradio: `gr.Interface(fn=f, inputs=[..., gr.Dropdown(CHOICES)])`, `btn.click(f, inputs=[...])`
        feed the components' choices and values to f's parameters, in order."""
        out: list[Vals] = []
        for call in self.ix.callbacks:
            fn = next((k.value for k in call.keywords if k.arg == "fn"), call.args[0] if call.args else None)
            if not (isinstance(fn, ast.Name) and fn.id == name):
                continue
            inputs = next(k.value for k in call.keywords if k.arg == "inputs")
            elts = inputs.elts if isinstance(inputs, (ast.List, ast.Tuple)) else [inputs]
            if index < len(elts):
                for component in self._defining_calls(elts[index]):
                    out.append(self._component_values(component, d))
        return out

    def _defining_calls(self, expr: ast.expr) -> list[ast.Call]:
        if isinstance(expr, ast.Call):
            return [expr]
        if not isinstance(expr, ast.Name):
            return []
        ctx = self.ix.locate(expr)
        for frame in reversed(ctx):
            bindings = self.ix.scope(frame.scope).bindings.get(expr.id)
            if bindings:
                return [b.value for b in bindings if isinstance(b.value, ast.Call)]
        return []

    def _component_values(self, call: ast.Call, d: int) -> Vals:
        kind = last_name(call.func)
        out: list[Vals] = []
        for k in call.keywords:
            if k.arg == "value":
                out.append(self.at(k.value, d))
            elif k.arg == "choices":
                out.append(members(self.at(k.value, d)))
        if call.args and kind in ("Dropdown", "Radio", "CheckboxGroup"):
            out.append(members(self.at(call.args[0], d)))
        elif call.args and kind in ("Textbox", "Text"):
            out.append(self.at(call.args[0], d))
        return union(out)

    def _attr_by_name(self, attr: str, d: int) -> Vals:
        """`args.model`, `cfg.model_name`, `model_args.model_name_or_path`: every static source of
        an attribute of that name in the module (argparse, set_defaults, class fields and
        `__init__` defaults, attribute assignments)."""
        found = self._by_name.get(attr)
        if found is not None:
            return found
        self._by_name[attr] = ()
        out: list[Vals] = []
        for call in self.ix.calls_by_name.get("add_argument", []):
            if option_dest(call, click=False) == attr:
                out.extend(self._option_values(call, d))
        for call in self.ix.calls_by_name.get("set_defaults", []):
            out.extend(self.at(k.value, d) for k in call.keywords if k.arg == attr)
        for value in self.ix.class_fields.get(attr, []):
            if isinstance(value, ast.Call) and last_name(value.func) in _FIELD_FUNCS:
                factory = next((k.value for k in value.keywords if k.arg == "default_factory"), None)
                if factory is not None:  # `model: ModelConfig = field(default_factory=ModelConfig)`
                    out.append(tuple(InstRef(v.node) for v in self.at(factory, d) if isinstance(v, ClassRef)))
                default = next((k.value for k in value.keywords if k.arg == "default"), None)
                if default is None and value.args and last_name(value.func) in ("Field", "Option", "Argument"):
                    default = value.args[0]
                if default is not None:
                    out.append(self.at(default, d))
            else:
                out.append(self.at(value, d))
        for func, cls in self.ix.init_params.get(attr, []):
            out.append(self.param_values(func, cls, attr, d))
        out.extend(self.built_with(name, attr, d) for name in self.ix.classes)
        for _, value in self.ix.attr_assigns.get(attr, []):
            out.append(self.at(value, d))
        found = self._by_name[attr] = union(out)
        return found

    # -- calls --------------------------------------------------------------------------------

    def _call(self, e: ast.Call, ctx: Ctx, d: int) -> Vals:
        f = e.func
        if isinstance(f, ast.Attribute):
            method = self._method(f.attr, self.values(f.value, ctx, d), e, ctx, d)
            if method is not None:
                return method
        out: list[Vals] = []
        callees = self.values(f, ctx, d)
        for v in callees:
            if isinstance(v, ImportRef):
                out.append(self._import_call(v.qualname, e, ctx, d))
            elif isinstance(v, FuncRef):
                out.append(self._returns(v.node, d))
            elif isinstance(v, ClassRef):
                out.append((InstRef(v.node, e),))
        if not callees and isinstance(f, ast.Name):
            out.append(self._builtin(f.id, e, ctx, d))
        if isinstance(f, ast.Attribute) and f.attr in ("from_pretrained", "from_single_file", "from_config"):
            out.append((OBJ,))
        return union(out)

    def _import_call(self, q: str, e: ast.Call, ctx: Ctx, d: int) -> Vals:
        if q in _ENV_GETTERS:
            default = e.args[1] if len(e.args) > 1 else next((k.value for k in e.keywords if k.arg == "default"), None)
            return self.values(default, ctx, d) if default is not None else ()
        if q in _JOINS and e.args and not e.keywords:  # os.path.join / urljoin on a URL builds a URL
            joined = self._join(q, e, ctx, d)
            if joined is not None:
                return joined
        if q.startswith(("os.path.", "tempfile.")) or q in _PATH_TYPES:
            return (LOCAL,)
        if q in ("os.fspath", "urllib.request.Request") and e.args:  # a Request: the URL it fetches
            return self.values(e.args[0], ctx, d)
        if q == "collections.defaultdict":  # `defaultdict(lambda: "x")`: an entry every other key reaches
            fn = e.args[0] if e.args else None
            return (Map((((), self.values(fn.body, ctx, d)),) if isinstance(fn, ast.Lambda) else ()),)
        last = q.rsplit(".", 1)[-1]
        if last in ("Option", "Argument") and q.startswith("typer."):
            first = e.args[0] if e.args else next((k.value for k in e.keywords if k.arg == "default"), None)
            return self.values(first, ctx, d) if first is not None else ()
        if last[:1].isupper():
            return (OBJ,)
        return ()

    def _join(self, q: str, e: ast.Call, ctx: Ctx, d: int) -> Vals | None:
        parts = [strs(self.values(a, ctx, d)) for a in e.args]
        if any(not p for p in parts) or not all("://" in s for s in parts[0]) or product(parts) is None:
            return None
        out: list[str] = []
        for combo in itertools.product(*parts):
            if q == "urllib.parse.urljoin" and len(combo) == 2:
                out.append(urllib.parse.urljoin(*combo))
            elif q != "urllib.parse.urljoin":
                out.append(posixpath.join(*combo))
        return tuple(out) or None

    def _builtin(self, name: str, e: ast.Call, ctx: Ctx, d: int) -> Vals:
        args = e.args
        first = self.values(args[0], ctx, d) if args and not isinstance(args[0], ast.Starred) else ()
        if name == "str":
            return tuple(v if isinstance(v, str) or v is LOCAL else str(v) for v in first
                         if isinstance(v, (str, int)) and not isinstance(v, bool) or v is LOCAL)
        if name == "range" and 1 <= len(args) <= 3 and not e.keywords:  # `for i in range(1, 4)`
            return int_range([self.values(a, ctx, d) for a in args])
        if name in ("list", "tuple", "sorted", "set", "frozenset", "reversed"):
            return tuple(Seq(tuple((k,) for k in members((v,)))) if isinstance(v, Map) else v
                         for v in first if isinstance(v, (Seq, Map)))
        if name == "dict":
            entries = [x for m in first if isinstance(m, Map) for x in m.entries]
            entries += [((k.arg,), self.values(k.value, ctx, d)) for k in e.keywords if k.arg]
            return (Map(tuple(entries)),)
        if name == "enumerate":
            return tuple(Seq(tuple((Seq(((i,), item)),) for i, item in enumerate(v.items)))
                         for v in first if isinstance(v, Seq))
        if name == "zip" and len(args) >= 2:
            seqs = [next((v for v in self.values(a, ctx, d) if isinstance(v, Seq)), None) for a in args]
            if any(s is None for s in seqs):
                return ()
            return (Seq(tuple((Seq(tuple(group)),) for group in zip(*(s.items for s in seqs if s)))),)
        if name == "getattr" and len(args) >= 2:
            names = strs(self.values(args[1], ctx, d))
            out: list[Vals] = [(ImportRef(f"{v.qualname}.{n}"),)
                               for v in first if isinstance(v, ImportRef) for n in names]
            if len(args) > 2:
                out.append(self.values(args[2], ctx, d))
            return union(out)
        return ()

    def _method(self, m: str, bases: Vals, e: ast.Call, ctx: Ctx, d: int) -> Vals | None:
        args, kws = e.args, {k.arg: k.value for k in e.keywords if k.arg}
        texts = strs(bases)
        if m == "get" or m == "setdefault" or m == "pop":
            out: list[Vals] = []
            handled = False
            default = args[1] if len(args) > 1 else kws.get("default")
            for v in bases:
                if isinstance(v, ImportRef) and v.qualname == "os.environ":
                    handled = True
                elif isinstance(v, Map):
                    handled = True
                    keys = (args[0].value,) if args and isinstance(args[0], ast.Constant) else ()
                    matched = [val for ks, val in v.entries if any(k in ks for k in keys)]
                    out.extend(matched or [val for _, val in v.entries])
            key = args[0].value if args and isinstance(args[0], ast.Constant) else None
            if not handled and isinstance(key, str) and _KEY.fullmatch(key):  # `kwargs.get("k", dflt)`
                receiver = e.func.value if isinstance(e.func, ast.Attribute) else None
                owner = kwargs_owner(receiver.id, ctx, self.ix) if isinstance(receiver, ast.Name) else None
                if owner is not None:  # what the function's callers pass as `k=`
                    out.append(self._call_sites(owner[0], key, owner[1], d))
                handled = owner is not None or (default is not None and all(v is OBJ for v in bases))
                out.append((RUNTIME,) if handled else ())  # the caller may pass anything
            if handled and default is not None:
                out.append(self.values(default, ctx, d))
            return union(out) if handled else None
        if m in ("keys", "values", "items"):
            maps = [v for v in bases if isinstance(v, Map)]
            if not maps:
                return None
            if m == "items":
                return tuple(Seq(tuple((Seq((k, val)),) for k, val in mp.entries)) for mp in maps)
            return tuple(Seq(tuple(k if m == "keys" else val for k, val in mp.entries)) for mp in maps)
        if m == "copy" and bases:
            return bases
        if not texts:
            return None
        if m == "format":
            if any(isinstance(a, ast.Starred) for a in args) or None in kws:
                return ()
            arg_vals = [strs(self.values(a, ctx, d)) or [str(v) for v in self.values(a, ctx, d)
                                                          if isinstance(v, int) and not isinstance(v, bool)]
                        for a in args]
            kw_vals = {k: strs(self.values(v, ctx, d)) for k, v in kws.items()}
            if partial_ok(texts):  # "https://host/{}.zip".format(name) with a run-time name
                arg_vals = [v or [PARTIAL] for v in arg_vals]
                kw_vals = {k: v or [PARTIAL] for k, v in kw_vals.items()}
            if any(not v for v in arg_vals) or any(not v for v in kw_vals.values()):
                return ()
            out_s: list[str] = []
            names = list(kw_vals)
            for template in texts:
                if not safe_format(template):
                    return ()
                for combo in itertools.product(*arg_vals, *(kw_vals[n] for n in names)):
                    try:
                        out_s.append(template.format(*combo[: len(arg_vals)],
                                                     **dict(zip(names, combo[len(arg_vals):]))))
                    except (IndexError, KeyError, ValueError):
                        return ()
                    if len(out_s) > MAX_ALTS:
                        return ()
            return tuple(out_s)
        if m in ("split", "rsplit") and len(args) <= 2 and not kws:  # `name, tag = cfg.model.split("/", 1)`
            opts = [self.values(a, ctx, d) for a in args]
            sep = opts[0][0] if opts and len(opts[0]) == 1 and isinstance(opts[0][0], str) and opts[0][0] else None
            most = opts[1][0] if len(opts) > 1 and len(opts[1]) == 1 and isinstance(opts[1][0], int) else -1
            if args and sep is None or len(args) > 1 and most == -1:
                return ()
            return tuple(Seq(tuple((p,) for p in getattr(s, m)(sep, most))) for s in texts)
        if m in _STR_METHODS and not args:
            return tuple(getattr(s, m)() for s in texts)
        if m == "replace" and len(args) == 2:
            olds, news = strs(self.values(args[0], ctx, d)), strs(self.values(args[1], ctx, d))
            if len(olds) == 1 and len(news) == 1:
                return tuple(s.replace(olds[0], news[0]) for s in texts)
            return ()
        if m == "join" and len(args) == 1:
            out_j: list[str] = []
            for v in self.values(args[0], ctx, d):
                if not isinstance(v, Seq):
                    continue
                parts = [strs(item) for item in v.items]
                if len(parts) > 16 or any(not p for p in parts) or product(parts) is None:
                    return ()
                for sep in texts:
                    out_j.extend(sep.join(c) for c in itertools.product(*parts))
            return tuple(out_j) if len(out_j) <= MAX_ALTS else ()
        return None

    def _returns(self, func: ast.FunctionDef | ast.AsyncFunctionDef, d: int) -> Vals:
        found = self._returns_memo.get(id(func))
        if found is not None:
            return found
        self._returns_memo[id(func)] = ()
        out: list[Vals] = []
        stack: list[ast.AST] = list(func.body)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Return) and node.value is not None:
                out.append(self.at(node.value, d))
            elif not isinstance(node, (*FUNCTIONS, ast.ClassDef, ast.Lambda, ast.expr)):
                stack.extend(ast.iter_child_nodes(node))
        found = self._returns_memo[id(func)] = union(out)
        return found

"""Which revisions can share a capture process: those whose source cannot touch shared state.

Every revision is captured in a forked child so that it cannot change how another revision is
captured (see :mod:`expandcontract.migrations.worker`). A fork per revision is costly, though,
and most revisions are plain Alembic: ``op.*`` calls with SQLAlchemy constructs and literals.
Such a revision, read from its source, can only build fresh objects and hand them to Alembic;
it has no way to reach ec, the capture machinery, a module's globals or the process. Revisions
that pass :func:`is_inert` are therefore captured several to a child; anything else still gets a
fresh child of its own.

The test is syntactic and deliberately narrow (an allowlist): a revision that imports anything
but Alembic, SQLAlchemy's public modules, plain ``typing`` names, ``json`` and ``re``; uses a
name it does not define; reads an attribute starting with ``_`` or naming a registry, listener,
cache or configuration; reaches past a module member (``sa.Integer.x``); assigns to an attribute
or to an item of something it did not create; calls a container-mutating method on something it
did not create; uses a builtin outside a short pure list (or ``print(file=...)``); or declares a
class, ``global``, decorator or ``async`` code, is not inert.
"""

from __future__ import annotations

import ast
import builtins

#: Modules an inert revision may import: loaded by every capture already, or pure (json, re).
SAFE_MODULES = frozenset(
    {
        "__future__",
        "typing",
        "collections.abc",
        "json",
        "re",
        "alembic",
        "alembic.op",
        "sqlalchemy",
        "sqlalchemy.dialects",
        "sqlalchemy.dialects.postgresql",
        "sqlalchemy.dialects.mysql",
        "sqlalchemy.dialects.sqlite",
        "sqlalchemy.exc",
        "sqlalchemy.schema",
        "sqlalchemy.sql",
        "sqlalchemy.sql.ddl",
        "sqlalchemy.sql.expression",
        "sqlalchemy.sql.functions",
        "sqlalchemy.sql.sqltypes",
        "sqlalchemy.types",
    }
)

#: Module members that reach process-wide state (registries, events, engines, the ORM).
DENIED_MEMBERS = frozenset(
    {
        "connectors",
        "create_engine",
        "create_mock_engine",
        "create_pool_from_url",
        "engine",
        "engine_from_config",
        "event",
        "events",
        "ext",
        "future",
        "inspect",
        "inspection",
        "log",
        "orm",
        "pool",
        "registry",
        "testing",
        "util",
    }
)

#: ``typing`` names an inert revision may use (``get_type_hints`` evaluates strings: not inert).
SAFE_TYPING = frozenset(
    {
        "Any",
        "Callable",
        "Dict",
        "Iterable",
        "Iterator",
        "List",
        "Literal",
        "Mapping",
        "Optional",
        "Sequence",
        "Set",
        "TYPE_CHECKING",
        "Tuple",
        "Type",
        "Union",
    }
)

#: Parts of a name that mean it registers, listens or configures something process-wide.
DENIED_NAME_PARTS = ("register", "listen", "dispatch", "configure", "cache", "global")

#: Builtins that only compute (none opens, imports, reflects or mutates what it is given).
SAFE_BUILTINS = frozenset(
    {
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "divmod",
        "enumerate",
        "Exception",
        "False",
        "filter",
        "float",
        "format",
        "frozenset",
        "int",
        "isinstance",
        "len",
        "list",
        "map",
        "max",
        "min",
        "None",
        "print",
        "range",
        "repr",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "True",
        "tuple",
        "zip",
        "ValueError",
        "KeyError",
        "TypeError",
        "NotImplementedError",
        "RuntimeError",
    }
)

#: Methods that change a container in place: only on containers the revision built itself.
MUTATING_METHODS = frozenset(
    {
        "add",
        "append",
        "appendleft",
        "clear",
        "difference_update",
        "discard",
        "extend",
        "extendleft",
        "insert",
        "move_to_end",
        "intersection_update",
        "pop",
        "popitem",
        "popleft",
        "remove",
        "reverse",
        "rotate",
        "setdefault",
        "sort",
        "symmetric_difference_update",
        "update",
    }
)

#: ``op`` members a revision may use; registration hooks (``implementation_for``,
#: ``register_operation``) and ``invoke`` are left out.
OP_DENIED = frozenset({"implementation_for", "register_operation", "invoke"})

_CONTAINER_BUILDERS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


class _NotInert(Exception):
    pass


def is_inert(source: str) -> bool:
    """True when ``source`` (a revision file) can be captured in a process shared with others."""
    try:
        tree = ast.parse(source)
        _Checker().module(tree)
    except (_NotInert, SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


class _Checker:
    def __init__(self) -> None:
        # name -> "module" (dotted path in .modules), "member", "op", "context", "value"
        self.kinds: dict[str, str] = {}
        self.modules: dict[str, str] = {}
        self.scalars: set[str] = set()

    # -- module level --------------------------------------------------------------------------

    def module(self, tree: ast.Module) -> None:
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.imports(node)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                self.bind_global(node.name, "value")
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    for name in _names(target):
                        self.bind_global(name, "value")
        module_scope: set[str] = set()
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue
            if isinstance(node, ast.FunctionDef):
                self.function(node, module_scope, set())
            else:
                self.statement(node, module_scope, set())

    def imports(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in SAFE_MODULES:
                    raise _NotInert
                if alias.asname:
                    self.bind_import(alias.asname, "module", alias.name)
                else:
                    top = alias.name.split(".")[0]
                    self.bind_import(top, "module", top)
            return
        if node.level or node.module not in SAFE_MODULES:
            raise _NotInert
        for alias in node.names:
            name = alias.name
            if name == "*" or name.startswith("_") or name in DENIED_MEMBERS or _denied_name(name):
                raise _NotInert
            if node.module == "typing" and name not in SAFE_TYPING:
                raise _NotInert
            bound = alias.asname or name
            dotted = f"{node.module}.{name}"
            if node.module == "alembic":
                if name not in ("op", "context"):
                    raise _NotInert
                self.bind_import(bound, name, dotted)
            elif dotted in SAFE_MODULES:
                self.bind_import(bound, "module", dotted)
            else:
                self.bind_import(bound, "member", dotted)

    def bind_import(self, name: str, kind: str, dotted: str) -> None:
        if self.kinds.get(name, kind) != kind or (kind == "module" and self.modules.get(name, dotted) != dotted):
            raise _NotInert
        self.kinds[name] = kind
        if kind == "module":
            self.modules[name] = dotted

    def bind_global(self, name: str, kind: str) -> None:
        if name.startswith("__") or (name in self.kinds and self.kinds[name] != "value"):
            raise _NotInert
        self.kinds[name] = kind

    # -- functions and statements --------------------------------------------------------------

    def function(self, node: ast.FunctionDef | ast.Lambda, outer: set[str], own: set[str]) -> None:
        if isinstance(node, ast.FunctionDef) and (
            node.decorator_list or (node.returns and not self.ok_annotation(node.returns))
        ):
            raise _NotInert
        args = node.args
        for default in [*args.defaults, *[d for d in args.kw_defaults if d is not None]]:
            self.expr(default, outer, own)
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        params += [a for a in (args.vararg, args.kwarg) if a is not None]
        local = set(outer)
        for arg in params:
            if arg.annotation is not None and not self.ok_annotation(arg.annotation):
                raise _NotInert
            local.add(self.local_name(arg.arg))
        if isinstance(node, ast.Lambda):
            self.expr(node.body, local, set())
            return
        body = node.body
        assigned = {name for stmt in ast.walk(node) for name in _assigned_names(stmt)}
        local |= {self.local_name(n) for n in assigned}
        # Containers the function built itself: every binding of the name is a literal container.
        builders: dict[str, bool] = {}
        for stmt in ast.walk(node):
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    for name in _names(target):
                        builders[name] = builders.get(name, True) and _is_container(stmt.value, len(stmt.targets))
            else:
                for name in _assigned_names(stmt):
                    builders[name] = False
        own = {name for name, built in builders.items() if built}
        outer_scalars, self.scalars = self.scalars, _scalars(node)
        try:
            for stmt in body:
                self.statement(stmt, local, own)
        finally:
            self.scalars = outer_scalars

    def local_name(self, name: str) -> str:
        if name.startswith("__") or self.kinds.get(name, "value") != "value":
            raise _NotInert  # shadowing an import would hide what a name is
        return name

    def statement(self, node: ast.stmt, scope: set[str], own: set[str]) -> None:
        if isinstance(node, ast.Expr):
            self.expr(node.value, scope, own)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self.target(target, scope, own)
            self.expr(node.value, scope, own)
        elif isinstance(node, ast.AugAssign):
            # In place on a list or dict: only on one the function built (or a number/string).
            if not isinstance(node.target, ast.Name) or node.target.id not in own | self.scalars:
                raise _NotInert
            self.expr(node.value, scope, own)
        elif isinstance(node, ast.AnnAssign):
            if not isinstance(node.target, ast.Name) or not self.ok_annotation(node.annotation):
                raise _NotInert
            if node.value is not None:
                self.expr(node.value, scope, own)
        elif isinstance(node, (ast.If, ast.While)):
            self.expr(node.test, scope, own)
            self.block([*node.body, *node.orelse], scope, own)
        elif isinstance(node, ast.For):
            self.target(node.target, scope, own)
            self.expr(node.iter, scope, own)
            self.block([*node.body, *node.orelse], scope, own)
        elif isinstance(node, ast.With):
            for item in node.items:
                self.expr(item.context_expr, scope, own)
                if item.optional_vars is not None:
                    self.target(item.optional_vars, scope, own)
            self.block(node.body, scope, own)
        elif isinstance(node, ast.Try):
            for handler in node.handlers:
                if handler.type is not None:
                    self.expr(handler.type, scope, own)
            self.block(
                [*node.body, *[s for h in node.handlers for s in h.body], *node.orelse, *node.finalbody], scope, own
            )
        elif isinstance(node, ast.Return):
            if node.value is not None:
                self.expr(node.value, scope, own)
        elif isinstance(node, ast.Raise):
            for part in (node.exc, node.cause):
                if part is not None:
                    self.expr(part, scope, own)
        elif isinstance(node, ast.Assert):
            self.expr(node.test, scope, own)
            if node.msg is not None:
                self.expr(node.msg, scope, own)
        elif isinstance(node, ast.FunctionDef):
            self.function(node, scope, own)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            checker = _Checker()
            checker.imports(node)  # a safe import inside a function: same rules, names bound there
            for name, kind in checker.kinds.items():
                if self.kinds.get(name) not in (None, kind) or (
                    kind == "module" and self.modules.get(name, checker.modules[name]) != checker.modules[name]
                ):
                    raise _NotInert
                self.kinds[name] = kind
                if kind == "module":
                    self.modules[name] = checker.modules[name]
        elif isinstance(node, ast.Delete):
            if not all(isinstance(t, ast.Name) for t in node.targets):
                raise _NotInert
        elif not isinstance(node, (ast.Pass, ast.Break, ast.Continue)):
            raise _NotInert  # class, global, nonlocal, async, match, ...

    def block(self, body: list[ast.stmt], scope: set[str], own: set[str]) -> None:
        for stmt in body:
            self.statement(stmt, scope, own)

    def target(self, node: ast.expr, scope: set[str], own: set[str]) -> None:
        if isinstance(node, ast.Name):
            self.local_name(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                self.target(element, scope, own)
        elif isinstance(node, ast.Starred):
            self.target(node.value, scope, own)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in own:
            self.expr(node.slice, scope, own)
        else:
            raise _NotInert  # an attribute, or an item of something the revision did not build

    def ok_annotation(self, node: ast.expr) -> bool:
        return all(
            isinstance(
                n,
                (
                    ast.Name,
                    ast.Attribute,
                    ast.Subscript,
                    ast.Constant,
                    ast.Tuple,
                    ast.List,
                    ast.BinOp,
                    ast.BitOr,
                    ast.Load,
                ),
            )
            and not (isinstance(n, ast.Attribute) and n.attr.startswith("_"))
            and not (isinstance(n, ast.Name) and n.id.startswith("_"))
            for n in ast.walk(node)
        )

    # -- expressions ---------------------------------------------------------------------------

    def expr(self, node: ast.expr, scope: set[str], own: set[str]) -> None:
        if isinstance(node, ast.Call):
            self.call(node, scope, own)
        elif isinstance(node, ast.Name):
            if self.kind(node, scope) == "module":
                raise _NotInert  # a module object handed around escapes the attribute checks
        elif isinstance(node, ast.Attribute):
            self.attribute(node, scope, own)
        elif isinstance(node, ast.Lambda):
            self.function(node, scope, own)
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = set(scope)
            for generator in node.generators:
                self.expr(generator.iter, inner, own)
                inner |= {self.local_name(n) for n in _names(generator.target)}
                for condition in generator.ifs:
                    self.expr(condition, inner, own)
            parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            for part in parts:
                self.expr(part, inner, own)
        elif isinstance(node, ast.NamedExpr):
            self.local_name(node.target.id)
            self.expr(node.value, scope, own)
        elif isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom)):
            raise _NotInert
        elif isinstance(
            node,
            (
                ast.Constant,
                ast.JoinedStr,
                ast.FormattedValue,
                ast.List,
                ast.Tuple,
                ast.Set,
                ast.Dict,
                ast.BinOp,
                ast.BoolOp,
                ast.Compare,
                ast.UnaryOp,
                ast.IfExp,
                ast.Subscript,
                ast.Slice,
                ast.Starred,
            ),
        ):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child, scope, own)
                elif not isinstance(child, (ast.operator, ast.boolop, ast.cmpop, ast.unaryop, ast.expr_context)):
                    raise _NotInert
        else:
            raise _NotInert

    def kind(self, node: ast.Name, scope: set[str]) -> str:
        name = node.id
        if name.startswith("__"):
            raise _NotInert
        if name in scope:
            return "value"
        kind = self.kinds.get(name)
        if kind is not None:
            return kind
        if name in SAFE_BUILTINS:
            return "builtin"
        if hasattr(builtins, name):
            raise _NotInert  # open, eval, getattr, __import__, type, vars, ...
        raise _NotInert  # a name the revision never defines

    def attribute(self, node: ast.Attribute, scope: set[str], own: set[str], *, called: bool = False) -> str:
        """Checks ``node`` and says what it reaches: "module", "member", "func" or "value"."""
        if node.attr.startswith("_") or _denied_name(node.attr):
            raise _NotInert
        base = node.value
        if isinstance(base, ast.Name) and self.modules.get(base.id) == "typing" and node.attr not in SAFE_TYPING:
            raise _NotInert
        if node.attr in MUTATING_METHODS and not called and not (isinstance(base, ast.Name) and base.id in own):
            raise _NotInert  # a bound mutator handed to map() & co.
        if isinstance(base, ast.Name):
            kind = self.kind(base, scope)
            if kind == "module":
                dotted = f"{self.modules[base.id]}.{node.attr}"
                return self.member(dotted, node.attr)
            if kind == "op":
                if node.attr in OP_DENIED:
                    raise _NotInert
                return "value"
            if kind == "member":
                if self.kinds.get(base.id) == "member" and base.id == "func":
                    return "func"
                raise _NotInert  # past a module member: class attributes are shared
            return "value"  # a local value, the context, or a builtin's result
        if isinstance(base, ast.Attribute):
            kind = self.attribute(base, scope, own)
            if kind == "module":
                assert isinstance(base, ast.Attribute)
                return self.member(f"{_dotted(base, self.modules)}.{node.attr}", node.attr)
            if kind == "func":
                return "func"
            if kind == "member":
                raise _NotInert
            return "value"
        self.expr(base, scope, own)
        return "value"

    def member(self, dotted: str, attr: str) -> str:
        if dotted in SAFE_MODULES:
            return "module"
        if attr in DENIED_MEMBERS:
            raise _NotInert
        return "func" if attr == "func" else "member"

    def call(self, node: ast.Call, scope: set[str], own: set[str]) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            kind = self.kind(func, scope)
            if kind in ("module", "op", "context"):
                raise _NotInert
            if kind == "builtin" and func.id == "print" and any(k.arg == "file" for k in node.keywords):
                raise _NotInert  # print(file=x) calls x.write()
        elif isinstance(func, ast.Attribute):
            own_receiver = isinstance(func.value, ast.Name) and func.value.id in own
            # t.update() / t.insert() build statements (a dict's update() with nothing is a no-op)
            builds = func.attr in ("update", "insert") and not node.args and not node.keywords
            if func.attr in MUTATING_METHODS and not own_receiver and not builds:
                raise _NotInert
            if self.attribute(func, scope, own, called=True) == "module":
                raise _NotInert
        else:
            self.expr(func, scope, own)
        for arg in node.args:
            self.expr(arg, scope, own)
        for keyword in node.keywords:
            self.expr(keyword.value, scope, own)


def _denied_name(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in DENIED_NAME_PARTS)


def _dotted(node: ast.Attribute, modules: dict[str, str]) -> str:
    parts = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    assert isinstance(current, ast.Name)
    return ".".join([modules[current.id], *reversed(parts)])


def _names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for e in target.elts for n in _names(e)]
    if isinstance(target, ast.Starred):
        return _names(target.value)
    return []


def _assigned_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Assign):
        return [n for t in node.targets for n in _names(t)]
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return _names(node.target)
    if isinstance(node, (ast.For, ast.comprehension)):
        return _names(node.target)
    if isinstance(node, ast.With):
        return [n for item in node.items if item.optional_vars is not None for n in _names(item.optional_vars)]
    if isinstance(node, ast.NamedExpr):
        return [node.target.id]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [node.name]
    if isinstance(node, ast.FunctionDef):
        return [node.name]
    return []


def _scalars(function: ast.FunctionDef) -> set[str]:
    """Names every binding of which (in ``function``) is a number or string literal."""
    verdict: dict[str, bool] = {}
    for node in ast.walk(function):
        for name in _assigned_names(node):
            literal = (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, (ast.Constant, ast.JoinedStr))
            ) or isinstance(node, ast.AugAssign)
            verdict[name] = verdict.get(name, True) and literal
    return {name for name, ok in verdict.items() if ok}


def _is_container(value: ast.expr, targets: int) -> bool:
    if targets != 1:
        return False
    if isinstance(value, _CONTAINER_BUILDERS):
        return True
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("list", "dict", "set")

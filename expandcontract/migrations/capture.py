"""Offline capture of Alembic revisions: no database, no env.py.

Each revision's ``upgrade()`` runs against an offline ``MigrationContext`` (``as_sql=True``)
for the target dialect. Every Alembic operation is recorded as it is invoked, with the line of
the revision file that issued it, the SQL Alembic renders for it, and whether it runs inside
``autocommit_block()``. The operations are then normalised into ec's change records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import re
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expandcontract.dialects import Target
from expandcontract.migrations.loader import RevisionFile
from expandcontract.sql import changes as c
from expandcontract.sql.normalize import parse_sql


@dataclass
class RecordedOp:
    op: Any
    line: int
    in_autocommit: bool
    segment: int
    sql: list[str] = field(default_factory=list)
    batch: bool = False
    #: The entries this op queued in its batch block (their keyword dicts, which flush() hands on).
    batch_entries: list[Any] = field(default_factory=list)


class _Recorder(io.StringIO):
    """Output buffer for the offline context: attributes each rendered statement to its op."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = str(path)
        self.ops: list[RecordedOp] = []
        self.current: RecordedOp | None = None
        self.depth = 0
        self.in_autocommit = False
        self.segment = 0

    def write(self, text: str) -> int:
        statement = text.strip().rstrip(";").strip()
        if not statement or statement.upper() in ("BEGIN", "COMMIT"):
            return len(text)
        if self.current is not None:
            self.current.sql.append(statement)
        elif (flush := self._batch_flush()) is not None:
            # A batch block runs its ops when it ends: each statement belongs to the op that queued
            # the entry flush() is running (the last op of the block when it cannot be told).
            queued = flush.f_locals.get("kw")
            batch_ops = [e for e in self.ops if e.batch]
            owner = next((e for e in batch_ops if any(k is queued for k in e.batch_entries)), None)
            if owner is None and batch_ops:
                owner = batch_ops[-1]
            if owner is not None:
                owner.sql.append(statement)
        else:
            # SQL sent through op.get_bind().execute(): offline it reaches this buffer without
            # an operation, and it must be linted like op.execute().
            self.ops.append(RecordedOp(None, self.caller_line(), self.in_autocommit, self.segment, [statement]))
        return len(text)

    def caller_line(self) -> int:
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.path:
                return frame.f_lineno
            frame = frame.f_back  # type: ignore[assignment]
        return 1

    @staticmethod
    def _batch_flush() -> Any:
        """The frame of Alembic's batch flush() this write comes from, if any."""
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "flush" and frame.f_code.co_filename.endswith(("batch.py",)):
                return frame
            frame = frame.f_back  # type: ignore[assignment]
        return None


_active: _Recorder | None = None


@contextlib.contextmanager
def _recording(recorder: _Recorder) -> Iterator[None]:
    """Route every Operations.invoke (plain and batch) through the recorder while capturing."""
    from alembic.operations.base import AbstractOperations

    global _active
    original = AbstractOperations.invoke

    def invoke(self: Any, operation: Any) -> Any:
        rec = _active
        if rec is None or rec.depth:
            return original(self, operation)
        entry = RecordedOp(operation, rec.caller_line(), rec.in_autocommit, rec.segment)
        entry.batch = type(self).__name__ == "BatchOperations"
        queue = getattr(self.impl, "batch", None) if entry.batch else None
        queued = len(queue) if isinstance(queue, list) else 0
        rec.ops.append(entry)
        rec.current, rec.depth = entry, 1
        try:
            return original(self, operation)
        finally:
            rec.current, rec.depth = None, 0
            if isinstance(queue, list):
                entry.batch_entries = [item[2] for item in queue[queued:] if len(item) == 3]

    _active = recorder
    AbstractOperations.invoke = invoke  # type: ignore[method-assign]
    try:
        yield
    finally:
        AbstractOperations.invoke = original  # type: ignore[method-assign]
        _active = None


def _offline_environment(target: Target, recorder: _Recorder, config_file: Path | None) -> tuple[Any, Any]:
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext

    config = Config()
    if config_file is not None and config_file.is_file():
        with contextlib.suppress(Exception):  # an unusual config still leaves the revision runnable
            config = Config(str(config_file)) if config_file.suffix == ".ini" else Config(toml_file=str(config_file))
    environment = EnvironmentContext(config, None, as_sql=True)  # type: ignore[arg-type]  # no script needed
    ctx = _offline_context(target, recorder, environment)
    environment._migration_context = ctx
    return environment, ctx


def _offline_context(target: Target, recorder: _Recorder, environment: Any = None) -> Any:
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(
        environment_context=environment,
        dialect_name=target.alembic_dialect,
        # ec_capture: recipes render what ec should lint (one representative batch), not the
        # script a DBA would run (see expandcontract.recipes.backfill).
        opts={"as_sql": True, "output_buffer": recorder, "literal_binds": True, "ec_capture": True},
    )
    original = ctx.autocommit_block

    @contextlib.contextmanager
    def autocommit_block() -> Iterator[None]:
        recorder.segment += 1
        recorder.in_autocommit = True
        try:
            with original():
                yield
        finally:
            recorder.in_autocommit = False
            recorder.segment += 1

    ctx.autocommit_block = autocommit_block  # type: ignore[method-assign]
    return ctx


class RenderError(Exception):
    def __init__(self, reason: str, line: int, *, syntax: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.syntax = syntax


def capture(rev: RevisionFile, target: Target, sys_path: list[Path], config_file: Path | None = None) -> list[c.Change]:
    """Changes made by ``rev``'s upgrade() on ``target``; a revision that cannot run offline
    yields one :class:`RenderFailed` change (with what it did before failing).

    The revision finds a full offline Alembic environment, as under ``alembic upgrade --sql``:
    ``alembic.context`` established (``is_offline_mode()`` is true, ``get_context()`` works, at
    import time too) and a ``Config`` with the project's own options (``config_file``)."""
    from alembic.operations import Operations

    recorder = _Recorder(rev.path)
    added = [str(p) for p in sys_path if str(p) not in sys.path]
    sys.path[:0] = added
    try:
        environment, ctx = _offline_environment(target, recorder, config_file)
        operations = Operations(ctx)
        environment._install_proxy()
        operations._install_proxy()
        try:
            try:
                module = _load_module(rev.path)
            except RenderError as error:
                static = None if error.syntax else _static_capture(rev.path, recorder, target, error.reason)
                if static is None:
                    raise
                return static
            upgrade = getattr(module, "upgrade", None)
            if upgrade is None:
                raise RenderError("the revision has no upgrade() function", 1)
            watch = _ExceptionWatch(rev.path, enabled=_may_swallow(rev.text))
            with _recording(recorder), watch:
                upgrade()
        finally:
            operations._remove_proxy()
            environment._remove_proxy()
    except RenderError as error:
        return [*_changes(recorder, target), c.RenderFailed(reason=error.reason, line=error.line)]
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - any failure of user code (SystemExit too) is a finding
        line = _error_line(error, rev.path)
        reason = _explain(error)
        return [*_changes(recorder, target), c.RenderFailed(reason=reason, line=line)]
    finally:
        for p in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(p)
    return [*_changes(recorder, target), *watch.swallowed()]


class _ExceptionWatch:
    """Sees exceptions raised in the revision's own code while upgrade() runs, including those
    the revision catches itself: offline, a caught exception (an ORM query that needs a
    connection, say) hides what the revision does when it runs for real."""

    def __init__(self, path: Path, *, enabled: bool = True) -> None:
        self.path = str(path)
        self.enabled = enabled
        self.seen: list[tuple[int, str]] = []

    def __enter__(self) -> _ExceptionWatch:
        if self.enabled:
            sys.settrace(self._call)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            sys.settrace(None)

    def _call(self, frame: Any, event: str, arg: Any) -> Any:
        return self._local if frame.f_code.co_filename == self.path else None

    def _local(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "exception" and not issubclass(arg[0], (StopIteration, GeneratorExit)):
            self.seen.append((frame.f_lineno, f"{arg[0].__name__}: {arg[1]}".splitlines()[0][:200]))
        return self._local

    def swallowed(self) -> list[c.Change]:
        """The exceptions upgrade() caught (one per line): it finished, so none escaped."""
        lines: dict[int, str] = {}
        for line, what in self.seen:
            lines.setdefault(line, what)
        return [
            c.Unverified(
                reason=f"the revision raised {what} here and caught it itself; what it does past this point when "
                "it runs for real is not known",
                line=line,
                end_line=line,
            )
            for line, what in sorted(lines.items())
        ]


#: Context managers of Alembic's that never swallow an exception.
_PLAIN_WITH = frozenset({"batch_alter_table", "autocommit_block", "begin_transaction"})


_TRY_LINE = re.compile(r"^[ \t]*try[ \t]*:", re.M)
_WITH_LINE = re.compile(r"^[ \t]*(?:async[ \t]+)?with\b.*$", re.M)
#: ``with op.batch_alter_table(...) as b:`` / ``with op.get_context().autocommit_block():`` on one line.
_PLAIN_WITH_LINE = re.compile(
    r"[ \t]*with[ \t]+[\w.]+(?:\(\))?\.(?:batch_alter_table|autocommit_block|begin_transaction)"
    r"\((?:[^()\n]|\([^()\n]*\))*\)[ \t]*(?:as[ \t]+\w+[ \t]*)?:[ \t]*(?:#.*)?"
)


def _may_swallow(source: str) -> bool:
    """Whether the revision's own code can catch an exception: a ``try`` or a ``with`` other
    than Alembic's own blocks. Only then is the (costly: it doubles a capture) trace needed."""
    if "try" not in source and "with" not in source:
        return False
    if not _TRY_LINE.search(source) and all(_PLAIN_WITH_LINE.fullmatch(m[0]) for m in _WITH_LINE.finditer(source)):
        return False  # the usual revision, told from its lines (parsing it costs a millisecond)
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, (ast.Try, ast.TryStar)):
            return True
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                call = item.context_expr
                if not (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in _PLAIN_WITH
                ):
                    return True
    return False


def capture_request(request: dict[str, Any]) -> list[c.Change]:
    """:func:`capture` from a worker request (see :mod:`expandcontract.migrations.worker`)."""
    from expandcontract.migrations.loader import read_revision

    path = Path(request["path"])
    target = Target(request["dialect"], tuple(request["version"]))
    for entry in reversed(request.get("sys_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    config_file = Path(request["config_file"]) if request.get("config_file") else None
    return capture(read_revision(path), target, [], config_file)


def _load_module(path: Path) -> Any:
    name = f"_ec_revision_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RenderError("cannot load the revision module", 1)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise RenderError(f"syntax error: {error.msg}", error.lineno or 1, syntax=True) from None
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - SystemExit at import too
        raise RenderError(f"importing the revision failed: {_explain(error)}", _error_line(error, path)) from None
    return module


class _Unknown:
    """A name the app would provide (its import failed). Reading it statically: attributes and
    calls give more unknowns, it iterates as empty and tests as false (a "skip this revision?"
    helper then lets the revision run), and every use is remembered."""

    def __init__(self, name: str, uses: list[str]) -> None:
        self._name, self._uses = name, uses

    def __getattr__(self, attribute: str) -> _Unknown:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _Unknown(f"{self._name}.{attribute}", self._uses)

    def __call__(self, *args: Any, **kwargs: Any) -> _Unknown:
        return _Unknown(f"{self._name}()", self._uses)

    def __bool__(self) -> bool:
        self._uses.append(f"{self._name} taken as false")
        return False

    def __iter__(self) -> Iterator[Any]:
        self._uses.append(f"{self._name} taken as empty")
        return iter(())

    def __repr__(self) -> str:
        return f"<unknown {self._name}>"


class _Globals(dict):  # type: ignore[type-arg]
    """Module globals in which a name nobody defined is an unknown, not a NameError."""

    def __init__(self, uses: list[str], **values: Any) -> None:
        super().__init__(**values)
        self.uses = uses

    def __missing__(self, key: str) -> Any:
        import builtins

        if hasattr(builtins, key):
            return getattr(builtins, key)
        return _Unknown(key, self.uses)


def _static_capture(path: Path, recorder: _Recorder, target: Target, reason: str) -> list[c.Change] | None:
    """The revision cannot be imported (its app or a package is not installed where the lint
    runs): read its source instead. Each module-level statement runs on its own (what fails to
    import becomes an unknown name), then ``upgrade()`` runs against the offline context: every
    ``op.*`` call whose arguments resolve is captured as usual. If it stops on an unknown, each
    statement of ``upgrade()`` is run on its own instead, and each that does not resolve becomes
    an unverified change of its own line. None when there is no upgrade()."""
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
    except (SyntaxError, ValueError):
        return None
    upgrade = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)
    if upgrade is None:
        return None
    uses: list[str] = []
    namespace = _static_namespace(tree, path, uses)
    function = namespace.get("upgrade")
    if callable(function) and not isinstance(function, _Unknown):
        try:
            with _recording(recorder):
                function()
            assumed = "; ".join(dict.fromkeys(uses))
            why = f"{reason} (read assuming: {assumed})" if assumed else reason
            return [c.CaptureInfo(mode="static", reason=why, line=1), *_changes(recorder, target)]
        except Exception:  # noqa: BLE001 - then statement by statement, to keep what does resolve
            recorder.ops.clear()
    unresolved: list[c.Change] = []
    with _recording(recorder):
        for statement in upgrade.body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue  # a docstring
            if isinstance(statement, ast.Return):
                break
            try:
                exec(compile(ast.Module([statement], []), str(path), "exec"), namespace)
            except Exception as error:  # noqa: BLE001 - each unresolved statement is reported on its line
                why = f"{type(error).__name__}: {error}".splitlines()[0]
                unresolved.append(
                    c.Unverified(
                        reason=f"read statically (the revision cannot be imported), this statement did not resolve: "
                        f"{why}",
                        line=statement.lineno,
                        end_line=statement.lineno,
                    )
                )
    return [c.CaptureInfo(mode="static", reason=reason, line=1), *_changes(recorder, target), *unresolved]


def _static_namespace(tree: Any, path: Path, uses: list[str]) -> _Globals:
    import ast

    import sqlalchemy
    from alembic import context, op
    from sqlalchemy.dialects import mysql, postgresql

    namespace = _Globals(
        uses,
        __name__="_ec_static_revision",
        __file__=str(path),
        op=op,
        context=context,
        sa=sqlalchemy,
        sqlalchemy=sqlalchemy,
        postgresql=postgresql,
        mysql=mysql,
    )
    for node in tree.body:
        try:
            exec(compile(ast.Module([node], []), str(path), "exec"), namespace)
        except Exception:  # noqa: BLE001 - a failed import leaves its names unknown
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    name = alias.asname or alias.name
                    namespace.setdefault(name, _Unknown(name, uses))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.asname or alias.name.split(".")[0]
                    namespace.setdefault(name, _Unknown(name, uses))
    return namespace


def _no_inspection() -> type[BaseException]:
    from sqlalchemy.exc import NoInspectionAvailable

    return NoInspectionAvailable


def _error_line(error: BaseException, path: Path) -> int:
    line = 1
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == str(path):
            line = lineno
    return line


def _explain(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    first = text.splitlines()[0] if text else type(error).__name__
    if isinstance(error, AttributeError) and "NoneType" in first:
        return f"it needs a live database connection (op.get_bind() or reflection): {first}"
    if "--sql mode" in text or "requires a live database connection" in text:
        return f"it needs a live database connection: {first}"
    if "MockConnection" in text or isinstance(error, _no_inspection()):
        # Offline, op.get_bind() is a mock: reflection and queries need the real database.
        return f"it needs a live database connection (reflection or a query through op.get_bind()): {first}"
    return first


# --- operations -> changes -----------------------------------------------------------------------


def _changes(recorder: _Recorder, target: Target) -> list[c.Change]:
    out: list[c.Change] = []
    for entry in recorder.ops:
        in_tx = target.family == "postgresql" and not entry.in_autocommit
        statement = ";\n".join(entry.sql) or None
        if entry.op is None:
            made = parse_sql(statement or "", target, fixed_line=entry.line)
        else:
            made = _op_changes(entry.op, target, entry.line)
        is_sql = entry.op is None or type(entry.op).__name__ == "ExecuteSQLOp"
        for change in made:
            change.line = change.end_line = entry.line
            change.in_transaction = in_tx
            change.segment = entry.segment
            change.source = "sql" if is_sql else "op"
            if not is_sql:
                change.statement = statement
        out.extend(_plain(change) for change in made)
    return out


def _plain(value: Any) -> Any:
    """Plain Python values only: SQLAlchemy's ``quoted_name`` (a str subclass) would make the
    cache import SQLAlchemy just to unpickle a name."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            object.__setattr__(value, f.name, _plain(getattr(value, f.name)))  # frozen ones too
    return value


def _op_changes(op: Any, target: Target, line: int) -> list[c.Change]:
    from alembic.operations import ops

    from expandcontract.migrations import optypes

    if isinstance(op, ops.ExecuteSQLOp):
        if isinstance(op.sqltext, _Unknown):
            return [
                c.Unverified(
                    reason=f"read statically (the revision cannot be imported), this statement did not resolve: "
                    f"op.execute() of {op.sqltext._name}, which comes from the app"
                )
            ]
        text = _execute_text(op, target)
        if text is None:
            return [c.Unverified(reason="op.execute() with an object ec cannot render")]
        parsed = parse_sql(text, target, fixed_line=line)
        return parsed or [c.Other(what="empty execute")]
    converter = optypes.CONVERTERS.get(type(op).__name__)
    if converter is None:
        return [c.Unverified(reason=f"operation {type(op).__name__} is not analysed by ec (custom operation?)")]
    return converter(op, target)


def _execute_text(op: Any, target: Target) -> str | None:
    sqltext = op.sqltext
    if isinstance(sqltext, str):
        return sqltext
    text = getattr(sqltext, "text", None)
    if isinstance(text, str):
        return text
    try:
        from expandcontract.migrations.optypes import dialect_for

        return str(sqltext.compile(dialect=dialect_for(target), compile_kwargs={"literal_binds": True}))
    except Exception:  # noqa: BLE001
        return None

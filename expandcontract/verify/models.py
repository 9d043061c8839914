"""``ec verify --models``: do the application's SQLAlchemy models work on the schema they will get?

Lint judges a migration by itself; it cannot know what the running code writes. The models say
it exactly. This compares them with the schema model at a point of the history - by default
after the expand revisions (the schema the *old* color's models must survive while it still
takes traffic), or after every revision (``after_contract``: the schema the *new* color's
models must work on once the contract ran):

- every mapped table and column exists (one the history dropped or renamed is gone);
- what the code writes fits the column (lengths, integer widths, numeric precision, enum
  values, timezone-awareness);
- every NOT NULL column the models do not map has a server default, else their inserts fail;
- a column the models may leave NULL is not NOT NULL without a default.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from expandcontract.config import Settings, find_config, load_settings
from expandcontract.dialects import normalize_dialect
from expandcontract.errors import ConfigError
from expandcontract.linter.findings import Finding, Report, Severity
from expandcontract.schema.model import SchemaModel, TableState, table_key
from expandcontract.sql.types import SqlType, canonical, is_compatible_widening


@dataclass(frozen=True)
class Check:
    code: str
    name: str
    severity: Severity
    summary: str
    fix: str


CHECKS = {
    "EV101": Check(
        "EV101",
        "model-table-missing",
        "error",
        "A mapped table does not exist in the schema at that point (dropped or renamed by the history).",
        "Stop mapping the table before the revision that drops or renames it runs, or keep the table.",
    ),
    "EV102": Check(
        "EV102",
        "model-column-missing",
        "error",
        "A mapped column does not exist in the schema at that point: every query of the model fails.",
        "Stop mapping the column in this release, or keep the column until the code that maps it is retired.",
    ),
    "EV103": Check(
        "EV103",
        "model-type-mismatch",
        "error",
        "What the model writes does not fit the column (length, width, precision, enum values, time zone).",
        "Widen the column in an expand revision first, or narrow the model's type to match.",
    ),
    "EV104": Check(
        "EV104",
        "unmapped-required-column",
        "error",
        "A NOT NULL column without a default that the model does not map: the model's inserts fail.",
        "Give the column a server default (or make it nullable) until every color maps it.",
    ),
    "EV106": Check(
        "EV106",
        "undeclared-unique-or-foreign-key",
        "warning",
        "The schema enforces a UNIQUE or FOREIGN KEY rule on columns the model writes, and the model does not "
        "declare it: writes the code thinks valid can fail.",
        "Declare the rule in the model (unique=True, UniqueConstraint, ForeignKey) so the code respects it.",
    ),
    "EV105": Check(
        "EV105",
        "nullable-model-not-null-column",
        "error",
        "The model may leave a column NULL that the schema requires, with no default to fill it.",
        "Declare the model column nullable=False (and always set it), or give the column a default.",
    ),
}


def load_metadata(spec: str, sys_path: Sequence[str | os.PathLike[str]] = ()) -> tuple[Any, Path | None]:
    """``package.module:attribute`` -> a SQLAlchemy ``MetaData`` (from a MetaData, a declarative
    base or a registry), and the module's file."""
    from sqlalchemy import MetaData

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"--models {spec!r}: expected PACKAGE.MODULE:ATTRIBUTE, e.g. app.models:Base")
    for entry in reversed([str(Path(p).resolve()) for p in (*sys_path, Path.cwd())]):
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)
    # Another ref's copy of the same package may be imported already (ec status checks each
    # color's ref in one process): import this one afresh.
    top = module_name.split(".")[0]
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"--models {spec!r}: cannot import {module_name}: {error}") from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"--models {spec!r}: {module_name} has no {attribute}") from None
    metadata = target if isinstance(target, MetaData) else getattr(target, "metadata", None)
    if not isinstance(metadata, MetaData):
        raise ConfigError(f"--models {spec!r} is not a MetaData, a declarative base or a registry")
    path = inspect.getsourcefile(module)
    return metadata, Path(path) if path else None


def schema_at(
    project: str | os.PathLike[str],
    settings: Settings,
    *,
    at: str | None = None,
    after_contract: bool = False,
    starting: SchemaModel | None = None,
) -> SchemaModel:
    """The schema the project's history leaves: up to revision ``at`` (with its ancestors), or
    after every revision that is not contract (or every revision, ``after_contract``), on top
    of ``starting`` (a dump or catalog)."""
    from expandcontract.linter.engine import classify_revisions
    from expandcontract.migrations.graph import RevisionGraph
    from expandcontract.migrations.loader import discover

    source = discover(Path(project))
    if not source.revisions:
        raise ConfigError(f"{project}: no Alembic revisions found to build the schema from")
    graph = RevisionGraph.from_files(source.revisions)
    wanted: set[str] | None = None
    if at is not None:
        resolved = graph.resolve(at)
        if resolved is None:
            raise ConfigError(f"--at {at!r} is not a revision of this history")
        wanted = graph.ancestors_or_self(resolved)
    captured: dict[str, list[Any]] = {}
    phases = classify_revisions(
        source.revisions,
        settings,
        sys_path=source.sys_path,
        root=source.root,
        use_cache=True,
        changes=captured,
        inherit_env=False,
        config_file=source.config_file,
    )
    model = starting.copy() if starting is not None else SchemaModel()
    for rev in source.revisions:
        name = rev.revision
        if name is None:
            continue
        if wanted is not None and name not in wanted:
            continue
        gated = rev.declared_phase == "contract" or phases.get(name) in ("contract", "mixed", "unknown")
        if wanted is None and gated and not after_contract:
            continue  # held until the old color is retired: not part of the schema it meets
        for change in captured.get(name, []):
            model.apply(change)
    return model


def verify(
    models: str,
    project: str | os.PathLike[str] = ".",
    *,
    at: str | None = None,
    after_contract: bool = False,
    dialect: str | None = None,
    schema: str | os.PathLike[str] | None = None,
    url: str | None = None,
    sys_path: Sequence[str | os.PathLike[str]] = (),
    settings: Settings | None = None,
    ref: str | None = None,
) -> Report:
    """The engine of ``ec verify``: findings where the models at ``models`` would fail on the
    schema the project's history leaves (see :func:`schema_at`). Same report, formats and exit
    codes as ``ec lint``.

    ``ref``: take the models as they are at this git ref (a temporary worktree; the current
    directory and ``sys_path`` are mapped to the same places in it), while the history comes
    from the working tree - "the old code on the new schema" in one pre-merge job."""
    if ref is not None:
        with _worktree(ref) as (top, root):
            mapped = [root / Path(p).resolve().relative_to(top) for p in (*sys_path, Path.cwd()) if _inside(p, top)]
            return verify(
                models,
                project,
                at=at,
                after_contract=after_contract,
                dialect=dialect,
                schema=schema,
                url=url,
                sys_path=mapped,
                settings=settings,
            )
    from expandcontract.schema.sources import starting_point

    if settings is None:
        settings = load_settings(find_config(Path(project).resolve()))
    if dialect is not None:
        try:
            settings = replace(settings, dialect=normalize_dialect(dialect))
        except ValueError as error:
            raise ConfigError(str(error), key="dialect") from None
    starting, settings = starting_point(settings, url=url, schema=schema, dialect_given=dialect is not None)
    state = schema_at(project, settings, at=at, after_contract=after_contract, starting=starting)
    metadata, module_file = load_metadata(models, sys_path)
    report = Report(dialect=settings.dialect, root=Path.cwd())
    where = str(module_file) if module_file else models
    ignored = {
        code
        for code, check in CHECKS.items()
        for s in settings.ignore
        if s.strip().lower() in (code.lower(), check.name)
    }
    for table in metadata.sorted_tables:
        name = f"{table.schema}.{table.name}" if table.schema else table.name
        for code, message, statement in _check_table(table, name, state, settings):
            if code in ignored:
                continue  # `ignore = ["EV106"]` in [tool.expandcontract]
            check = CHECKS[code]
            report.findings.append(
                Finding(
                    code=code,
                    name=check.name,
                    severity=check.severity,
                    category="contract",
                    file=where,
                    line=1,
                    revision=at,
                    dialect=settings.dialect,
                    statement=statement,
                    message=message,
                    fix=check.fix,
                )
            )
    report.findings.sort(key=lambda f: (f.statement or "", f.code))
    return report


def _inside(path: str | os.PathLike[str], top: Path) -> bool:
    try:
        Path(path).resolve().relative_to(top)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def _worktree(ref: str) -> Iterator[tuple[Path, Path]]:
    """(the repository's top, a temporary worktree of it at ``ref``)."""
    import subprocess
    import tempfile

    from expandcontract.errors import GitError

    def git(*args: str, cwd: Path | None = None) -> str:
        try:
            result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise GitError(ref, "git is not installed") from None
        if result.returncode != 0:
            raise GitError(ref, result.stderr.strip() or "git failed")
        return result.stdout

    top = Path(git("rev-parse", "--show-toplevel").strip())
    git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=top)
    with tempfile.TemporaryDirectory(prefix="ec-verify-") as scratch:
        tree = Path(scratch) / "tree"
        git("worktree", "add", "--detach", str(tree), ref, cwd=top)
        try:
            yield top, tree
        finally:
            git("worktree", "remove", "--force", str(tree), cwd=top)


def _check_table(table: Any, name: str, state: SchemaModel, settings: Settings) -> list[tuple[str, str, str]]:
    key = table_key(name)
    found = state.table(key)
    if found is None:
        if key in state.dropped or state.source in ("dump", "catalog"):
            return [("EV101", f"The model maps table {name}, which the schema does not have.", name)]
        return []  # never seen by the history, nor in a dump or catalog: unknown, not missing
    out: list[tuple[str, str, str]] = []
    mapped = set()
    for column in table.columns:
        mapped.add(column.name.lower())
        out += _check_column(column, name, found, settings)
    out += _undeclared_rules(table, name, found, mapped)
    for column_name, column_state in found.columns.items():
        required = column_state.nullable is False and column_state.default is None and not column_state.identity
        if column_name not in mapped and required:
            out.append(
                (
                    "EV104",
                    f"{name}.{column_state.name} is NOT NULL without a default, and the model does not map it: "
                    "its inserts fail.",
                    f"{name}.{column_state.name}",
                )
            )
    return out


def _undeclared_rules(table: Any, name: str, found: TableState, mapped: set[str]) -> list[tuple[str, str, str]]:
    """UNIQUE and FOREIGN KEY rules of the schema on mapped columns the model does not declare."""
    from sqlalchemy import ForeignKeyConstraint, UniqueConstraint

    declared_unique = {
        tuple(sorted(c.name.lower() for c in u.columns)) for u in table.constraints if isinstance(u, UniqueConstraint)
    }
    declared_unique |= {(c.name.lower(),) for c in table.columns if c.unique}
    declared_unique |= {tuple(sorted(c.name.lower() for c in i.columns)) for i in table.indexes if i.unique}
    declared_unique |= {tuple(sorted(c.name.lower() for c in table.primary_key.columns))}
    declared_fk = {
        tuple(sorted(e.parent.name.lower() for e in f.elements))
        for f in table.constraints
        if isinstance(f, ForeignKeyConstraint)
    }
    rules: list[tuple[str, tuple[str, ...]]] = []
    rules += [("unique", cols) for cols, unique in found.indexes.values() if unique]
    rules += [
        (kind, found.constraint_columns.get(n, ()))
        for n, kind in found.constraints.items()
        if kind in ("unique", "foreign_key")
    ]
    out: list[tuple[str, str, str]] = []
    for kind, columns in rules:
        key = tuple(sorted(col.lower().strip('"`') for col in columns))
        if not key or not set(key) <= mapped:
            continue
        if (kind == "unique" and key in declared_unique) or (kind == "foreign_key" and key in declared_fk):
            continue
        what = "UNIQUE" if kind == "unique" else "FOREIGN KEY"
        where = f"{name}({', '.join(key)})"
        out.append(("EV106", f"The schema enforces {what} on {where}; the model does not declare it.", where))
    return sorted(set(out))


def _unknown_labels(model_type: SqlType, column_type: SqlType) -> bool:
    """Reading back: an enum column holding labels the model's Enum does not know."""
    return model_type.name == column_type.name == "ENUM" and not set(column_type.enum_values) <= set(
        model_type.enum_values
    )


def _check_column(column: Any, table: str, found: TableState, settings: Settings) -> list[tuple[str, str, str]]:
    from expandcontract.migrations.optypes import compile_type

    where = f"{table}.{column.name}"
    state = found.column(column.name)
    if state is None:
        if column.name.lower() in found.dropped or not found.partial:
            return [("EV102", f"The model maps {where}, which the schema does not have.", where)]
        return []
    out: list[tuple[str, str, str]] = []
    family = settings.target.family
    written: SqlType | None = compile_type(column.type, settings.target)
    if written is not None and state.type is not None:
        model_type, column_type = canonical(written, family), canonical(state.type, family)
        if not is_compatible_widening(model_type, column_type) or _unknown_labels(model_type, column_type):
            out.append(
                (
                    "EV103",
                    f"The model writes {where} as {model_type}, but the column is {column_type}: values the code "
                    "writes may not fit, or read back differently.",
                    where,
                )
            )
    no_default = state.default is None and not state.identity and column.server_default is None
    may_be_null = column.nullable and not column.primary_key and column.default is None
    if state.nullable is False and no_default and may_be_null:
        out.append(
            (
                "EV105",
                f"The model may leave {where} NULL (nullable, no default), but the column is NOT NULL without a "
                "default.",
                where,
            )
        )
    return out

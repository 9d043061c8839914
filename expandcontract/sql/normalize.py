"""Turn SQL text into :mod:`expandcontract.sql.changes` records, one dialect at a time.

sqlglot gives structured trees for most DDL but falls back to an opaque ``Command`` (or raises)
for many statements migrations use. Those known forms are recognised here by their text;
anything else becomes :class:`Unverified` - never silently safe.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from expandcontract.dialects import Target
from expandcontract.sql import changes as c
from expandcontract.sql.split import split_statements
from expandcontract.sql.types import SqlType, parse_type, split_top_level

if TYPE_CHECKING:
    from sqlglot import exp

# sqlglot logs each Command fallback as a warning; ec reports it as a finding instead.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_IDENT = r'(?:"[^"]+"|`[^`]+`|[\w$]+)(?:\.(?:"[^"]+"|`[^`]+`|[\w$]+))?'
_VOLATILE = re.compile(
    r"\b(random|rand|clock_timestamp|timeofday|gen_random_uuid|uuid_generate_v[14]\w*|uuid|uuid_short|"
    r"nextval|statement_timestamp|txid_current|gen_random_bytes)\s*\(",
    re.I,
)


def unquote(name: str) -> str:
    return ".".join(part.strip('"`') for part in re.findall(r'"[^"]+"|`[^`]+`|[^.]+', name))


def parse_sql(sql: str, target: Target, *, line_offset: int = 0, fixed_line: int | None = None) -> list[c.Change]:
    """Parse a script into changes. Lines are ``line_offset + line in sql`` unless ``fixed_line``."""
    out: list[c.Change] = []
    for stmt in split_statements(sql, target.sqlglot_dialect):
        if fixed_line is not None:
            line = end_line = fixed_line
            comments = tuple((fixed_line, text) for _, text in stmt.comments)
        else:
            line, end_line = line_offset + stmt.line, line_offset + stmt.end_line
            comments = tuple((line_offset + n, text) for n, text in stmt.comments)
        if not stmt.text:
            made: list[c.Change] = [c.Other(what="comment")]
        elif len(stmt.text) > BULK_STATEMENT and (bulk := _bulk_verb(stmt.text)):
            made = [c.DataChange(verb=bulk, has_where=False)]
        else:
            made = parse_statement(stmt.text, target, tokens=(stmt.tokens, sql))
        for change in made:
            change.line, change.end_line = line, end_line
            change.statement = stmt.text or None
            change.comments = comments
            out.append(change)
    return out


@cache
def _dialect(name: str) -> Any:
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise(name)


#: A data statement this long (a bulk INSERT in a dump) is not parsed: its verb says all.
BULK_STATEMENT = 200_000


def _bulk_verb(text: str) -> str | None:
    head = _strip_comments(text[:2000]).split(None, 1)
    verb = head[0].upper() if head else ""
    return verb if verb in ("INSERT", "REPLACE", "COPY") else None


def parse_statement(text: str, target: Target, *, tokens: tuple[list[Any], str] | None = None) -> list[c.Change]:
    """Normalise one statement (no trailing semicolon).

    ``tokens`` are the statement's tokens from :func:`split_statements` with the text they
    index into, so a script is tokenized once.
    """
    try:
        return _parse_statement(text, target, tokens)
    except RecursionError:
        # sqlglot parses recursively: deep nesting ends here, for this statement only.
        return [c.Unverified(reason="the statement is nested too deeply for ec's SQL parser")]


def _parse_statement(text: str, target: Target, tokens: tuple[list[Any], str] | None) -> list[c.Change]:
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    known = _known_text_forms(text, target)
    if known is not None:
        return known
    tree: Any
    dialect = _dialect(target.sqlglot_dialect)
    try:
        if tokens is not None and tokens[0]:
            trees = dialect.parser().parse(tokens[0], tokens[1])
        else:
            trees = dialect.parse(text)
        tree = trees[0] if trees else None
    except SqlglotError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return [c.Unverified(reason=f"sqlglot could not parse this statement ({first})")]
    if tree is None:
        return [c.Other(what="empty")]
    if isinstance(tree, exp.Command):
        return _command(tree, text, target)
    handler = _HANDLERS.get(type(tree).__name__)
    if handler is None:
        return [c.Unverified(reason=f"statement type {type(tree).__name__} is not analysed by ec")]
    try:
        return handler(tree, target)
    except Exception as error:  # noqa: BLE001 - a tree shape we did not foresee is unverified, not a crash
        return [c.Unverified(reason=f"ec could not analyse this {type(tree).__name__} ({type(error).__name__})")]


# --- text forms sqlglot does not parse (or mis-parses) -------------------------------------------


def _known_text_forms(text: str, target: Target) -> list[c.Change] | None:
    flat = " ".join(_strip_comments(text).split())
    if target.family == "postgresql":
        split = _alter_table_actions(flat)
        if split is not None and any(_known_text_forms(f"{split[0]} {a}", target) is not None for a in split[1]):
            # Several actions, one of a form read from the text: each action on its own, so that
            # none of them hides the others.
            return [change for action in split[1] for change in parse_statement(f"{split[0]} {action}", target)]
        # sqlglot reads this as a *table* rename (ALTER_RENAME_REQUIRES_COLUMN); it is the column
        # rename Alembic renders for alter_column(new_column_name=...).
        m = re.fullmatch(
            rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?({_IDENT}) "
            rf"RENAME (?!TO\b|CONSTRAINT\b)(?:COLUMN )?({_IDENT}) TO ({_IDENT})",
            flat,
            re.I,
        )
        if m:
            return [c.RenameColumn(table=unquote(m[1]), column=unquote(m[2]), new_name=unquote(m[3]))]
        m = re.fullmatch(r"CLUSTER\b(?:\s+VERBOSE)?\s*(\S+)?.*", flat, re.I)
        if m:
            return [c.Maintenance(kind="cluster", table=unquote(m[1]) if m[1] else None)]
        m = re.fullmatch(rf"CREATE TYPE ({_IDENT}) AS ENUM \((.*)\)", flat, re.I | re.S)
        if m:
            return [c.CreateEnum(type_name=unquote(m[1]), values=_quoted_values(m[2]))]
        m = re.fullmatch(rf"DROP TYPE (?:IF EXISTS )?({_IDENT}(?: ?, ?{_IDENT})*)(?: CASCADE| RESTRICT)?", flat, re.I)
        if m:
            return [c.DropType(type_name=unquote(n.strip())) for n in m[1].split(",")]
        m = re.fullmatch(
            rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?({_IDENT}) "
            rf"SET (LOGGED|UNLOGGED|TABLESPACE)(?: {_IDENT}(?: NOWAIT)?)?",
            flat,
            re.I,
        )
        if m:
            return [c.Maintenance(kind=f"set_{m[2].lower()}", table=unquote(m[1]))]
        m = re.fullmatch(
            rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?({_IDENT}) (ATTACH|DETACH) PARTITION {_IDENT}(.*)", flat, re.I
        )
        if m:
            parent, rest = unquote(m[1]), m[3].strip().upper()
            if m[2].upper() == "ATTACH":
                # SHARE UPDATE EXCLUSIVE on the parent (measured): its reads and writes go on.
                return [c.Other(what="attach partition", table=parent)]
            if rest == "CONCURRENTLY":
                return [c.Maintenance(kind="detach_partition", table=parent, concurrently=True)]
            return [c.Other(what="alter table metadata", table=parent)]
        for clauses, what in _PG_TABLE_CATALOG_CHANGES:
            m = re.fullmatch(rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?({_IDENT}) (?:{clauses})", flat, re.I)
            if m:
                return [c.Other(what=what, table=unquote(m[1]))]
        if re.fullmatch(r"SET CONSTRAINTS .+ (?:IMMEDIATE|DEFERRED)", flat, re.I):
            # When deferred constraints are checked, within this transaction: no schema change.
            return [c.SetSetting(name="constraints", value=flat.split()[-1].upper())]
    else:
        # Trigger bodies (BEGIN ... END with statements inside) are beyond sqlglot's MySQL
        # parser; creating or dropping a trigger changes no table definition.
        m = re.fullmatch(
            rf"CREATE (?:DEFINER\s*=\s*\S+ )?TRIGGER (?:IF NOT EXISTS )?{_IDENT} (?:BEFORE|AFTER) "
            rf"(?:INSERT|UPDATE|DELETE) ON ({_IDENT})\b.*",
            flat,
            re.I | re.S,
        )
        if m:
            return [c.Other(what="create trigger", table=unquote(m[1]))]
        if re.fullmatch(rf"DROP TRIGGER (?:IF EXISTS )?{_IDENT}", flat, re.I):
            return [c.Other(what="drop trigger")]
    return None


#: ALTER TABLE clauses that change only the catalog, by the lock they take (measured):
#: SHARE UPDATE EXCLUSIVE lets reads and writes go on; ACCESS EXCLUSIVE is brief, but the old
#: version waits for it.
_PG_TABLE_CATALOG_CHANGES = [
    (
        r"ALTER (?:COLUMN )?\S+ (?:SET STATISTICS -?\d+|(?:SET|RESET) \([^)]*\))|CLUSTER ON \S+|SET WITHOUT CLUSTER|"
        r"SET \((?:\s*(?:fillfactor|autovacuum_\w+|toast\.\w+|parallel_workers|log_autovacuum_min_duration|"
        r"vacuum_\w+)\s*=\s*[^,)]+,?)+\)|RESET \([^)]*\)",
        "alter table settings",
    ),
    (
        rf"(?:ENABLE|DISABLE|FORCE|NO FORCE) ROW LEVEL SECURITY|(?:NO )?INHERIT {_IDENT}|"
        rf"ALTER (?:COLUMN )?\S+ DROP EXPRESSION(?: IF EXISTS)?|"
        rf"ALTER CONSTRAINT {_IDENT}(?: (?:NOT )?DEFERRABLE| INITIALLY (?:DEFERRED|IMMEDIATE))+",
        "alter table metadata",
    ),
]


def _strip_comments(text: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", text, flags=re.S)


def _alter_table_actions(flat: str) -> tuple[str, list[str]] | None:
    """``ALTER TABLE t a1, a2`` -> ("ALTER TABLE t", ["a1", "a2"]); None for one action or
    another statement. Commas inside parentheses or quotes do not separate actions."""
    m = re.match(rf"(ALTER TABLE (?:IF EXISTS )?(?:ONLY )?{_IDENT}) ", flat, re.I)
    if not m:
        return None
    actions = split_top_level(flat[m.end() :])
    return (m[1], actions) if len(actions) > 1 and all(actions) else None


def _command(tree: exp.Command, text: str, target: Target) -> list[c.Change]:
    flat = " ".join(_strip_comments(text).split())
    split = _alter_table_actions(flat) if target.family == "postgresql" else None
    if split is not None:
        # A list of actions sqlglot cannot read as a whole: read each one (a pattern below would
        # take the first action for the whole statement).
        return [change for action in split[1] for change in parse_statement(f"{split[0]} {action}", target)]
    for pattern, build in _COMMAND_FORMS[target.family]:
        m = re.fullmatch(pattern, flat, re.I | re.S)
        if m:
            result = build(m, target)
            if result is not None:
                return result
    keyword = str(tree.this).upper()
    return [c.Unverified(reason=f"sqlglot does not parse this {keyword} statement and ec does not recognise its form")]


def _with_attrs(changes: list[c.Change], **attrs: object) -> list[c.Change]:
    """Re-attach a clause that had to be cut off for sqlglot to parse the rest."""
    for change in changes:
        for key, value in attrs.items():
            setattr(change, key, value)
    return changes


_PG_FORMS: list[tuple[str, Callable[[re.Match[str], Target], list[c.Change] | None]]] = [
    (
        rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(?P<t>{_IDENT}) VALIDATE CONSTRAINT (?P<n>{_IDENT})",
        lambda m, t: [c.ValidateConstraint(table=unquote(m["t"]), name=unquote(m["n"]))],
    ),
    (
        rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(?P<t>{_IDENT}) ADD (?:CONSTRAINT (?P<n>{_IDENT}) )?"
        r"(?P<k>UNIQUE|PRIMARY KEY) USING INDEX (?P<i>\S+).*",
        lambda m, t: [
            c.AddConstraint(
                table=unquote(m["t"]),
                kind="unique" if m["k"].upper() == "UNIQUE" else "primary_key",
                name=unquote(m["n"]) if m["n"] else None,
                using_index=True,
            )
        ],
    ),
    (
        rf"CREATE TYPE (?P<t>{_IDENT}) AS ENUM \((?P<v>.*)\)",
        lambda m, t: [c.CreateEnum(type_name=unquote(m["t"]), values=_quoted_values(m["v"]))],
    ),
    (
        rf"DROP TYPE (?:IF EXISTS )?(?P<t>{_IDENT}(?: ?, ?{_IDENT})*)(?: CASCADE| RESTRICT)?",
        lambda m, t: [c.DropType(type_name=unquote(n.strip())) for n in m["t"].split(",")],
    ),
    (
        rf"ALTER TYPE (?P<t>{_IDENT}) ADD VALUE (?:IF NOT EXISTS )?'(?P<v>[^']*)'.*",
        lambda m, t: [c.EnumAddValue(type_name=unquote(m["t"]), value=m["v"])],
    ),
    (
        rf"ALTER TYPE (?P<t>{_IDENT}) RENAME VALUE '(?P<v>[^']*)' TO '(?P<n>[^']*)'",
        lambda m, t: [c.EnumRenameValue(type_name=unquote(m["t"]), value=m["v"], new_value=m["n"])],
    ),
    (
        r"REINDEX (?:\([^)]*\) )?(?P<k>INDEX|TABLE|SCHEMA|DATABASE|SYSTEM) (?P<c>CONCURRENTLY )?(?P<n>\S+)",
        lambda m, t: [
            c.Maintenance(
                kind="reindex",
                concurrently=bool(m["c"]),
                table=unquote(m["n"]) if m["k"].upper() == "TABLE" else None,
            )
        ],
    ),
    (
        r"VACUUM (?:\((?P<o>[^)]*)\)|(?P<f>FULL)\b)?.*?(?P<n>[\w.\"]+)?",
        lambda m, t: [
            c.Maintenance(kind="vacuum_full", table=unquote(m["n"]) if m["n"] else None)
            if m["f"] or (m["o"] and re.search(r"\bFULL\b(?!\s+(?:false|off|0))", m["o"], re.I))
            else c.Other(what="vacuum")
        ],
    ),
    (
        rf"LOCK (?:TABLE )?(?:ONLY )?(?P<t>{_IDENT})(?: IN (?P<mode>[\w ]+?) MODE)?(?: NOWAIT)?",
        lambda m, t: [c.LockTable(table=unquote(m["t"]), mode=(m["mode"] or "ACCESS EXCLUSIVE").upper())],
    ),
    (
        r"(?:CREATE (?:OR REPLACE )?(?:TRUSTED )?(?:PROCEDURAL )?(?:FUNCTION|PROCEDURE|EXTENSION|LANGUAGE|AGGREGATE|"
        r"OPERATOR|COLLATION|DOMAIN|POLICY|PUBLICATION|STATISTICS|CAST|RULE)|ALTER (?:FUNCTION|PROCEDURE|SEQUENCE|"
        r"EXTENSION|DOMAIN|POLICY|ROLE|USER|DEFAULT PRIVILEGES|INDEX|VIEW|MATERIALIZED VIEW)|DROP (?:EXTENSION|POLICY|"
        r"RULE|CAST|AGGREGATE|OPERATOR)|COMMENT ON|SECURITY LABEL|REFRESH MATERIALIZED VIEW CONCURRENTLY)\b.*",
        lambda m, t: [c.Other(what=" ".join(m[0].split()[:2]).lower())],
    ),
    (
        rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(?P<t>{_IDENT}) (?:RENAME CONSTRAINT|ALTER (?:COLUMN )?\S+ "
        r"(?:SET STATISTICS|SET STORAGE|SET COMPRESSION|ADD GENERATED|SET GENERATED|DROP IDENTITY|RESTART)|"
        r"REPLICA IDENTITY|(?:ENABLE|DISABLE) (?:ALWAYS |REPLICA )?TRIGGER|OWNER TO|CLUSTER ON|"
        r"SET WITHOUT CLUSTER)\b.*",
        lambda m, t: [c.Other(what="alter table metadata", table=unquote(m["t"]))],
    ),
    (
        rf"ALTER TYPE (?P<t>{_IDENT}) (?:RENAME TO|OWNER TO|SET SCHEMA|ADD ATTRIBUTE)\b.*",
        lambda m, t: [c.Other(what="alter type", table=None)],
    ),
]

_MYSQL_FORMS: list[tuple[str, Callable[[re.Match[str], Target], list[c.Change] | None]]] = [
    (
        rf"RENAME TABLES? (?P<pairs>{_IDENT} TO {_IDENT}(?: ?, ?{_IDENT} TO {_IDENT})*)",
        lambda m, t: [
            c.RenameTable(table=unquote(a), new_name=unquote(b))
            for a, b in re.findall(rf"({_IDENT}) TO ({_IDENT})", m["pairs"], re.I)
        ],
    ),
    (
        # The ALGORITHM/LOCK tail on CREATE INDEX is what sqlglot cannot read.
        r"(?P<rest>CREATE .*?INDEX .*?\))(?P<opts>(?:\s*(?:ALGORITHM|LOCK)\s*=?\s*\w+)+)",
        lambda m, t: _with_attrs(
            parse_statement(m["rest"], t), algorithm=_opt(m["opts"], "ALGORITHM"), lock=_opt(m["opts"], "LOCK")
        ),
    ),
    (
        rf"ALTER TABLE (?P<t>{_IDENT}) (?:DEFAULT )?CONVERT TO (?:CHARACTER SET|CHARSET) .*",
        lambda m, t: [c.TableRebuild(table=unquote(m["t"]), reason="CONVERT TO CHARACTER SET rewrites every row")],
    ),
    (
        rf"OPTIMIZE (?:NO_WRITE_TO_BINLOG |LOCAL )?TABLE (?P<t>{_IDENT}).*",
        lambda m, t: [c.Maintenance(kind="optimize", table=unquote(m["t"]))],
    ),
    (
        # MariaDB: ALTER ONLINE TABLE means LOCK=NONE.
        r"ALTER ONLINE (?P<rest>TABLE .*)",
        lambda m, t: _with_attrs(parse_statement("ALTER " + m["rest"], t), lock="NONE"),
    ),
    (
        # MariaDB: WAIT n / NOWAIT bound the metadata-lock wait; they do not change the analysis.
        r"(?P<rest>ALTER TABLE .*?)\s+(?:WAIT \d+|NOWAIT)(?P<tail>\s.*)?",
        lambda m, t: parse_statement(m["rest"] + (m["tail"] or ""), t),
    ),
    (
        r"(?:CREATE (?:DEFINER\s*=\s*\S+ )?(?:FUNCTION|PROCEDURE|EVENT|USER|ROLE|SERVER)|ALTER (?:EVENT|FUNCTION|"
        r"PROCEDURE|USER|VIEW)|ANALYZE TABLE|FLUSH|CHECK TABLE)\b.*",
        lambda m, t: [c.Other(what=" ".join(m[0].split()[:2]).lower())],
    ),
]

_COMMAND_FORMS = {"postgresql": _PG_FORMS, "mysql": _MYSQL_FORMS}


def _quoted_values(text: str) -> tuple[str, ...]:
    """``'a', 'it''s'`` -> ``("a", "it's")``."""
    return tuple(v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", text))


def _opt(text: str, name: str) -> str | None:
    m = re.search(rf"{name}\s*=?\s*(\w+)", text, re.I)
    return m[1].upper() if m else None


# --- structured trees ----------------------------------------------------------------------------


def _name(node: exp.Expression | None) -> str:
    from sqlglot import exp

    if node is None:
        return ""
    if isinstance(node, exp.Table):
        parts = [p.name for p in (node.args.get("db"), node.this) if p is not None and p.name]
        return ".".join(parts)
    return node.name


def _sql(node: exp.Expression, target: Target) -> str:
    return node.sql(dialect=target.sqlglot_dialect)


def _type(node: exp.Expression | None, target: Target) -> SqlType | None:
    return parse_type(_sql(node, target)) if node is not None else None


def _is_constant(node: exp.Expression) -> bool:
    from sqlglot import exp

    if isinstance(node, (exp.Literal, exp.Null, exp.Boolean)):
        return True
    if isinstance(node, (exp.Neg, exp.Paren)) and isinstance(node.this, exp.Expression):
        return _is_constant(node.this)
    if isinstance(node, exp.Cast):
        return _is_constant(node.this)
    if isinstance(node, exp.Array):
        return all(_is_constant(e) for e in node.expressions)
    return False


def column_spec(col: exp.ColumnDef, target: Target) -> c.ColumnSpec:
    from sqlglot import exp

    spec = c.ColumnSpec(name=col.name, type=_type(col.args.get("kind"), target))
    for constraint in col.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.NotNullColumnConstraint):
            spec.nullable = bool(kind.args.get("allow_null"))
        elif isinstance(kind, exp.DefaultColumnConstraint):
            default = kind.this
            spec.default = _sql(default, target)
            spec.default_is_constant = _is_constant(default)
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
            spec.primary_key = True
            spec.nullable = False
        elif isinstance(kind, exp.AutoIncrementColumnConstraint):
            spec.autoincrement = True
        elif isinstance(kind, exp.ComputedColumnConstraint):
            spec.generated_stored = bool(kind.args.get("persisted")) or target.family == "postgresql"
        elif isinstance(kind, exp.GeneratedAsIdentityColumnConstraint):
            spec.identity = True
        elif isinstance(kind, exp.Reference):
            spec.references = _name(kind.find(exp.Table))
    if spec.type is not None and spec.type.name in ("SERIAL", "BIGSERIAL", "SMALLSERIAL"):
        spec.autoincrement = True
        spec.nullable = False
    return spec


def _alter(tree: exp.Expression, target: Target) -> list[c.Change]:
    from sqlglot import exp

    assert isinstance(tree, exp.Alter)
    table = _name(tree.this)
    kind = (tree.args.get("kind") or "TABLE").upper()
    if kind != "TABLE":
        return [c.Other(what=f"alter {kind.lower()}")]
    algorithm = lock = None
    out: list[c.Change] = []
    for option in tree.args.get("options") or []:
        if isinstance(option, exp.AlgorithmProperty):
            algorithm = _sql(option.this, target).upper()
        elif isinstance(option, exp.LockProperty):
            lock = _sql(option.this, target).upper()
        elif isinstance(option, exp.EngineProperty):
            engine = _sql(option.this, target).strip("`'\"").upper()
            if engine == "INNODB":
                # The default engine already: a null rebuild, in place (measured like FORCE).
                out.append(c.TableRebuild(table=table, reason="ENGINE=InnoDB rebuilds the table", in_place=True))
            else:
                out.append(c.TableRebuild(table=table, reason=f"ENGINE={engine} copies the table into the new engine"))
        elif isinstance(option, exp.Property):
            # ROW_FORMAT=, AUTO_INCREMENT=, COMMENT=, ...: table options (an in-place rebuild at most).
            out.append(c.Other(table=table, what="alter table options"))
    not_valid = bool(tree.args.get("not_valid"))
    for action in tree.args.get("actions") or []:
        out.extend(_alter_action(action, table, not_valid, target))
    if not out:
        out.append(c.Unverified(table=table, reason="ALTER TABLE with no action ec understands"))
    for change in out:
        change.table = change.table or table
        change.algorithm = algorithm
        change.lock = lock
    return out


def _alter_action(action: exp.Expression, table: str, not_valid: bool, target: Target) -> list[c.Change]:
    from sqlglot import exp

    if isinstance(action, exp.ColumnDef):
        return [c.AddColumn(column=column_spec(action, target), positioned=action.args.get("position") is not None)]
    if isinstance(action, exp.Drop):
        what = (action.args.get("kind") or "COLUMN").upper()
        names = [_name(t) for t in action.args.get("tables") or []]
        if what == "COLUMN":
            return [c.DropColumn(column=n) for n in names]
        if what == "INDEX":
            return [c.DropIndex(name=n) for n in names]
        kinds = {"FOREIGN KEY": "foreign_key", "CHECK": "check", "CONSTRAINT": None}
        return [c.DropConstraint(kind=kinds.get(what), name=n) for n in names]
    if isinstance(action, exp.DropPrimaryKey):
        return [c.DropConstraint(kind="primary_key")]
    if isinstance(action, exp.AlterColumn):
        column = action.name
        if action.args.get("dtype") is not None:
            using = action.args.get("using")
            using = using if isinstance(using, exp.Expression) else None
            return [
                c.AlterColumnType(
                    column=column,
                    new_type=_type(action.args["dtype"], target),
                    using=_sql(using, target) if using is not None else None,
                )
            ]
        if "allow_null" in action.args and action.args.get("allow_null") is not None:
            if action.args.get("drop"):
                return [c.DropNotNull(column=column)]
            return [c.SetNotNull(column=column)]
        if action.args.get("drop"):
            return [c.SetDefault(column=column, default=None)]
        if action.args.get("default") is not None:
            return [c.SetDefault(column=column, default=_sql(action.args["default"], target))]
        return [c.Unverified(reason="ALTER COLUMN form not analysed")]
    if isinstance(action, exp.ModifyColumn):
        return _modify_column(action, target)
    if isinstance(action, exp.RenameColumn):
        return [c.RenameColumn(column=_name(action.this), new_name=_name(action.args.get("to")))]
    if isinstance(action, exp.AlterRename):
        return [c.RenameTable(new_name=_name(action.this))]
    if isinstance(action, exp.AddConstraint):
        return [_add_constraint(e, not_valid, target) for e in action.expressions]
    if isinstance(action, exp.ForceProperty):
        return [c.TableRebuild(reason="FORCE rebuilds the table", in_place=True)]
    if isinstance(action, (exp.RenameIndex, exp.AlterIndex, exp.AlterSet)):
        return [c.Other(what="alter table metadata")]
    return [c.Unverified(reason=f"ALTER TABLE action {type(action).__name__} is not analysed by ec")]


def _modify_column(action: exp.Expression, target: Target) -> list[c.Change]:
    """MySQL MODIFY/CHANGE restate the whole column: type, nullability and default at once."""
    from sqlglot import exp

    coldef = action.this
    assert isinstance(coldef, exp.ColumnDef)
    spec = column_spec(coldef, target)
    out: list[c.Change] = []
    renamed_from = action.args.get("rename_from")
    column = spec.name
    if renamed_from is not None:
        column = _name(renamed_from)
        if column != spec.name:
            out.append(c.RenameColumn(column=column, new_name=spec.name))
    # The old type is not in the statement; MySQL rebuilds unless it is exactly unchanged.
    out.append(c.AlterColumnType(column=spec.name, new_type=spec.type))
    if not spec.nullable:
        out.append(c.SetNotNull(column=spec.name, column_type=spec.type))
    return out


def _add_constraint(node: exp.Expression, not_valid: bool, target: Target) -> c.Change:
    from sqlglot import exp

    name = None
    inner = node
    if isinstance(node, exp.Constraint):
        name = node.name
        inner = node.expressions[0] if node.expressions else node
    if isinstance(inner, exp.ForeignKey):
        return c.AddConstraint(kind="foreign_key", name=name, not_valid=not_valid)
    if isinstance(inner, exp.CheckColumnConstraint):
        return c.AddConstraint(kind="check", name=name, not_valid=not_valid, expression=_sql(inner.this, target))
    if isinstance(inner, (exp.PrimaryKey, exp.PrimaryKeyColumnConstraint)):
        return c.AddConstraint(kind="primary_key", name=name)
    if isinstance(inner, exp.UniqueColumnConstraint):
        return c.AddConstraint(kind="unique", name=name or (inner.this.name if inner.this else None))
    if isinstance(inner, exp.IndexColumnConstraint):
        # MySQL ADD INDEX / ADD FULLTEXT INDEX: an index, not a constraint.
        kind = str(inner.args.get("kind") or "").lower()
        special = kind if kind in ("fulltext", "spatial") else ""
        return c.CreateIndex(name=inner.name or None, unique=False, kind=special)
    if isinstance(inner, exp.ExcludeColumnConstraint):
        return c.AddConstraint(kind="exclude", name=name)
    text = _sql(node, target).upper()
    if "EXCLUDE" in text:
        return c.AddConstraint(kind="exclude", name=name)
    return c.Unverified(reason=f"constraint form {type(inner).__name__} is not analysed by ec")


def _create(tree: exp.Expression, target: Target) -> list[c.Change]:
    from sqlglot import exp

    assert isinstance(tree, exp.Create)
    kind = (tree.args.get("kind") or "").upper()
    if kind == "TABLE":
        schema = tree.this
        table = _name(schema.this if isinstance(schema, exp.Schema) else schema)
        elements = schema.expressions if isinstance(schema, exp.Schema) else []
        columns = [column_spec(e, target) for e in elements if isinstance(e, exp.ColumnDef)]
        checks = []
        for element in elements:
            if isinstance(element, exp.Constraint):
                for inner in element.expressions:
                    if isinstance(inner, exp.CheckColumnConstraint):
                        checks.append((element.name or None, _sql(inner.this, target)))
            elif isinstance(element, exp.CheckColumnConstraint):
                checks.append((None, _sql(element.this, target)))
        return [c.CreateTable(table=table, columns=columns, checks=tuple(checks))]
    if kind == "INDEX":
        index = tree.this
        index_table = _name(index.args.get("table")) if isinstance(index, exp.Index) else None
        return [
            c.CreateIndex(
                table=index_table,
                name=index.name if isinstance(index, exp.Index) else None,
                unique=bool(tree.args.get("unique")),
                concurrently=bool(tree.args.get("concurrently")),
            )
        ]
    return [c.Other(what=f"create {kind.lower()}")]


def _drop(tree: exp.Expression, target: Target) -> list[c.Change]:
    from sqlglot import exp

    assert isinstance(tree, exp.Drop)
    kind = (tree.args.get("kind") or "").upper()
    tables = tree.args.get("tables") or []
    if kind == "TABLE":
        return [c.DropTable(table=_name(t)) for t in tables]
    if kind == "INDEX":
        on = tree.args.get("cluster")
        table = _name(on.this) if isinstance(on, exp.OnProperty) else None
        return [
            c.DropIndex(table=table, name=_name(t), concurrently=bool(tree.args.get("concurrently"))) for t in tables
        ]
    if kind in ("SCHEMA", "DATABASE"):
        return [c.DropSchema(name=(t.args["db"].name if t.args.get("db") else _name(t))) for t in tables]
    return [c.Other(what=f"drop {kind.lower()}")]


def _truncate(tree: exp.Expression, target: Target) -> list[c.Change]:
    cascade = str(tree.args.get("option") or "").upper() == "CASCADE"
    return [c.Truncate(table=_name(t), cascade=cascade) for t in tree.expressions]


def _dml(verb: str) -> Callable[[exp.Expression, Target], list[c.Change]]:
    def build(tree: exp.Expression, target: Target) -> list[c.Change]:
        return [c.DataChange(verb=verb, table=_name(tree.this), has_where=tree.args.get("where") is not None)]

    return build


def _insert(tree: exp.Expression, target: Target) -> list[c.Change]:
    from sqlglot import exp

    table = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    # INSERT adds rows; it never rewrites existing ones.
    return [c.DataChange(verb="INSERT", table=_name(table), has_where=True)]


def _set(tree: exp.Expression, target: Target) -> list[c.Change]:
    from sqlglot import exp

    out: list[c.Change] = []
    for item in tree.expressions:
        eq = item.this if isinstance(item, exp.SetItem) else item
        if isinstance(eq, exp.EQ):
            out.append(c.SetSetting(name=eq.this.name.lower(), value=_sql(eq.expression, target).strip("'")))
        else:
            out.append(c.Other(what="set"))
    return out or [c.Other(what="set")]


def _transaction(verb: str) -> Callable[[exp.Expression, Target], list[c.Change]]:
    return lambda tree, target: [c.Transaction(verb=verb)]


def _other(what: str) -> Callable[[exp.Expression, Target], list[c.Change]]:
    return lambda tree, target: [c.Other(what=what)]


_HANDLERS: dict[str, Callable[[exp.Expression, Target], list[c.Change]]] = {
    "Alter": _alter,
    "Create": _create,
    "Drop": _drop,
    "TruncateTable": _truncate,
    "Update": _dml("UPDATE"),
    "Delete": _dml("DELETE"),
    "Insert": _insert,
    "Set": _set,
    "Transaction": _transaction("BEGIN"),
    "Commit": _transaction("COMMIT"),
    "Rollback": _transaction("ROLLBACK"),
    "Comment": _other("comment"),
    "Grant": _other("grant"),
    "Revoke": _other("revoke"),
    "Analyze": _other("analyze"),
    "Select": _other("select"),
    "Use": _other("use"),
}


def is_volatile(default_sql: str) -> bool:
    """A default computed per row (PostgreSQL must rewrite the table to fill it)."""
    return bool(_VOLATILE.search(default_sql))

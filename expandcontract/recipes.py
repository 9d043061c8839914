"""Safe recipes for migration scripts: the "use instead" of the lint rules, as calls.

Each works on PostgreSQL and MySQL/MariaDB, keeps long work out of long transactions, and is
safe to rerun after a partial failure (each step checks before it acts), so a revision built
from recipes can declare ``resumable = True`` (see ``ec expand --resume``)::

    from expandcontract import recipes

    resumable = True

    def upgrade():
        recipes.backfill("users", set_={"full_name": "name"}, where="full_name IS NULL")

Offline (``alembic upgrade --sql``) they render the complete operation: a backfill becomes one
PL/pgSQL ``DO`` block that loops over every batch, committing each. MySQL/MariaDB scripts cannot
loop without a stored procedure and a client ``DELIMITER``, so there a backfill refuses to render
rather than print one batch of many.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from expandcontract.errors import ConfigError

log = logging.getLogger("expandcontract.recipes")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


def _op() -> Any:
    from alembic import op

    return op


def _ident(name: str, what: str = "identifier") -> str:
    """Names go into SQL text: only plain identifiers are accepted, then quoted per dialect."""
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigError(f"invalid {what} {name!r}: use a plain SQL identifier")
    return str(_op().get_context().impl.dialect.identifier_preparer.quote(name))


def _family() -> str:
    name = _op().get_context().dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


def backfill(
    table: str,
    *,
    set_: str | Mapping[str, str],
    where: str | None = None,
    key: str = "id",
    batch_size: int = 5000,
    progress: Callable[[int, int, int], None] | None = None,
) -> int:
    """UPDATE ``table`` in key ranges of ``batch_size``, each committed on its own.

    ``set_`` is an SQL assignment list or ``{column: sql_expression}``; ``where`` selects the
    rows still to do (e.g. ``"full_name IS NULL"``), which makes a rerun resume where an
    interrupted one stopped. ``key`` must be an integer column. ``progress(done_rows,
    batch, batches)`` is called after each batch; by default progress is logged. Returns the
    number of rows updated (0 when rendering offline).
    """
    from sqlalchemy import text

    if batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    op = _op()
    ctx = op.get_context()
    t, k = _ident(table, "table"), _ident(key, "key column")
    if isinstance(set_, Mapping):
        assignments = ", ".join(f"{_ident(col, 'column')} = {expr}" for col, expr in set_.items())
    else:
        assignments = set_
    condition = f"({where})" if where else "1 = 1"
    statement = f"UPDATE {t} SET {assignments} WHERE {condition} AND {k} >= :lo AND {k} < :hi"
    if ctx.as_sql and ctx.opts.get("ec_capture"):
        # ec lint judges one batch: every batch is the same statement.
        op.execute(statement.replace(":lo", "0").replace(":hi", str(batch_size)))
        return 0
    if ctx.as_sql:
        _render_backfill(table, t, k, assignments, condition, batch_size)
        return 0
    bounds = op.get_bind().execute(text(f"SELECT MIN({k}), MAX({k}) FROM {t} WHERE {condition}")).one()
    if bounds[0] is None:
        return 0
    low, high = int(bounds[0]), int(bounds[1])
    batches = (high - low) // batch_size + 1
    done = 0
    started = time.monotonic()
    report = progress or _default_progress(table, started)
    # Each batch commits by itself: no long transaction holding row locks, and an interrupted
    # run keeps what it finished.
    with ctx.autocommit_block():
        conn = op.get_bind()
        for number, start in enumerate(range(low, high + 1, batch_size), start=1):
            result = conn.execute(text(statement), {"lo": start, "hi": start + batch_size})
            done += max(result.rowcount, 0)
            report(done, number, batches)
    return done


def _default_progress(table: str, started: float, every: float = 5.0) -> Callable[[int, int, int], None]:
    """Inside `ec expand`/`contract`: the command's progress display (a bar on a terminal, a
    line every few seconds otherwise, JSON events with --format json). Elsewhere: a log line
    every few seconds and at the end."""
    from expandcontract.online.api import _REPORTER
    from expandcontract.online.progress import Progress

    reporter = _REPORTER.get()
    last = [started]

    def report(done: int, batch: int, batches: int) -> None:
        now = time.monotonic()
        elapsed = max(now - started, 1e-9)
        eta = (batches - batch) * elapsed / batch
        if reporter is not None:
            reporter[1](
                table,
                Progress(
                    engine="backfill",
                    copied=done,
                    percent=100.0 * batch / batches,
                    state=f"batch {batch}/{batches}, {done:,} rows",
                    eta_seconds=eta,
                    eta=f"{eta:.0f}s",
                ),
            )
        elif batch == batches or now - last[0] >= every:
            last[0] = now
            log.info(
                "backfill %s: batch %d/%d, %d rows (%.0f rows/s, eta %.0fs)",
                table,
                batch,
                batches,
                done,
                done / elapsed,
                eta,
            )

    return report


def _render_backfill(table: str, t: str, k: str, assignments: str, condition: str, batch_size: int) -> None:
    """The whole backfill as SQL a DBA can apply: every batch, never just the first."""
    op = _op()
    if _family() != "postgresql":
        raise ConfigError(
            f"recipes.backfill of {table} cannot be rendered as an SQL script for MySQL/MariaDB (a loop needs a "
            "stored procedure and a client DELIMITER): apply this revision online (`ec expand`, or `alembic "
            "upgrade` without --sql); printing one batch would leave the other rows unfilled"
        )
    # A DO block run outside a transaction block (the autocommit block ends the script's) may
    # COMMIT after each batch (PostgreSQL 11+).
    body = (
        "DO $ec_backfill$\n"
        "DECLARE lo bigint; hi bigint;\n"
        "BEGIN\n"
        f"  SELECT min({k}), max({k}) INTO lo, hi FROM {t} WHERE {condition};\n"
        "  WHILE lo IS NOT NULL AND lo <= hi LOOP\n"
        f"    UPDATE {t} SET {assignments} WHERE {condition} AND {k} >= lo AND {k} < lo + {batch_size};\n"
        f"    lo = lo + {batch_size};\n"
        "    COMMIT;\n"
        "  END LOOP;\n"
        "END $ec_backfill$"
    )
    with op.get_context().autocommit_block():
        op.execute(body)


def _online() -> bool:
    return not _op().get_context().as_sql


def _inspector() -> Any:
    from sqlalchemy import inspect

    return inspect(_op().get_bind())


def _constraint_exists(table: str, name: str) -> bool:
    """Online only (offline there is nothing to look at: the script states every step)."""
    if not _online():
        return False
    from sqlalchemy import text

    if _family() == "postgresql":
        found = (
            _op()
            .get_bind()
            .execute(
                text("SELECT 1 FROM pg_constraint WHERE conname = :n AND conrelid = to_regclass(:t)"),
                {"n": name, "t": table},
            )
        )
        return found.first() is not None
    insp = _inspector()
    names = {fk.get("name") for fk in insp.get_foreign_keys(table)}
    names |= {ck.get("name") for ck in insp.get_check_constraints(table)}
    names |= {ix.get("name") for ix in insp.get_indexes(table)}
    names |= {uq.get("name") for uq in insp.get_unique_constraints(table)}
    return name in names


def _index_state(name: str) -> str | None:
    """PostgreSQL: ``valid``, ``invalid`` (a failed concurrent build) or None (absent)."""
    if not _online():
        return None
    from sqlalchemy import text

    row = (
        _op()
        .get_bind()
        .execute(text("SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(:n)"), {"n": name})
        .first()
    )
    return None if row is None else ("valid" if row[0] else "invalid")


def _column_exists(table: str, column: str) -> bool:
    return _online() and column in {c["name"] for c in _inspector().get_columns(table)}


def add_foreign_key(
    name: str, source: str, referent: str, local_cols: Sequence[str], remote_cols: Sequence[str], **kw: Any
) -> None:
    """A foreign key without a write outage.

    PostgreSQL: added NOT VALID (instant; new rows checked at once), then validated in its own
    transaction, which lets writes continue. MySQL/MariaDB: existing rows are checked for
    orphans first, then the key is added INPLACE with LOCK=NONE under
    ``foreign_key_checks=0`` (with checks on, InnoDB copies the table).
    """
    op = _op()
    exists = _constraint_exists(source, name)  # a rerun after a partial failure
    if _family() == "postgresql":
        if not exists:
            op.create_foreign_key(
                name, source, referent, list(local_cols), list(remote_cols), postgresql_not_valid=True, **kw
            )
        _validate(source, name)
        return
    if kw:
        raise ConfigError(f"add_foreign_key on MySQL/MariaDB takes no extra options ({', '.join(kw)})")
    if exists:
        return
    s, r = _ident(source, "table"), _ident(referent, "table")
    local = [_ident(c, "column") for c in local_cols]
    remote = [_ident(c, "column") for c in remote_cols]
    if not op.get_context().as_sql:
        from sqlalchemy import text

        join = " AND ".join(f"r.{rc} = s.{lc}" for lc, rc in zip(local, remote, strict=True))
        present = " AND ".join(f"s.{lc} IS NOT NULL" for lc in local)
        orphan = (
            op.get_bind()
            .execute(
                text(f"SELECT 1 FROM {s} s LEFT JOIN {r} r ON {join} WHERE {present} AND r.{remote[0]} IS NULL LIMIT 1")
            )
            .first()
        )
        if orphan is not None:
            raise ConfigError(f"rows of {source} reference missing {referent} rows: fix them before adding {name}")
    op.execute("SET SESSION foreign_key_checks = 0")
    try:
        op.execute(
            f"ALTER TABLE {s} ADD CONSTRAINT {_ident(name, 'constraint')} FOREIGN KEY ({', '.join(local)}) "
            f"REFERENCES {r} ({', '.join(remote)}), ALGORITHM=INPLACE, LOCK=NONE"
        )
    finally:
        op.execute("SET SESSION foreign_key_checks = 1")


def add_check(name: str, table: str, condition: str) -> None:
    """A CHECK constraint added NOT VALID, then validated in its own transaction (PostgreSQL).

    MySQL and MariaDB have no online form: adding a CHECK copies the table with writes blocked
    (measured on MariaDB 10.11 with every ALGORITHM, also with ``check_constraint_checks=0``), so
    ``ec lint`` reports it (EC401); on a large table use the online schema change path instead."""
    op = _op()
    exists = _constraint_exists(table, name)
    if _family() == "postgresql":
        if not exists:
            op.create_check_constraint(name, table, condition, postgresql_not_valid=True)
        _validate(table, name)
    elif not exists:
        op.create_check_constraint(name, table, condition)


def _validate(table: str, name: str) -> None:
    op = _op()
    # The autocommit block commits the NOT VALID add first: validation then runs in a
    # transaction of its own, under SHARE UPDATE EXCLUSIVE only.
    with op.get_context().autocommit_block():
        op.execute(f"ALTER TABLE {_ident(table, 'table')} VALIDATE CONSTRAINT {_ident(name, 'constraint')}")


def set_not_null(table: str, column: str, *, existing_type: Any = None) -> None:
    """SET NOT NULL without a table scan under an exclusive lock: on PostgreSQL 12+ a
    validated ``CHECK (column IS NOT NULL)`` lets it skip the scan; the check is then dropped.
    MySQL/MariaDB need ``existing_type`` (MODIFY restates the column)."""
    op = _op()
    if _family() == "postgresql":
        check = f"{table}_{column}_not_null"[:63]
        add_check(check, table, f"{_ident(column, 'column')} IS NOT NULL")
        op.alter_column(table, column, nullable=False, existing_type=existing_type)
        # IF EXISTS: a rerun after this step finds it gone.
        op.execute(f"ALTER TABLE {_ident(table, 'table')} DROP CONSTRAINT IF EXISTS {_ident(check, 'constraint')}")
    else:
        if existing_type is None:
            raise ConfigError("set_not_null on MySQL/MariaDB needs existing_type (MODIFY restates the column)")
        op.alter_column(table, column, nullable=False, existing_type=existing_type)


def add_unique(name: str, table: str, columns: Sequence[str]) -> None:
    """A unique constraint without locking the table for the index build: on PostgreSQL the
    index is built concurrently, then attached; on MySQL/MariaDB built INPLACE with LOCK=NONE."""
    op = _op()
    t = _ident(table, "table")
    cols = ", ".join(_ident(c, "column") for c in columns)
    if _constraint_exists(table, name):
        return  # a rerun: done already
    if _family() == "postgresql":
        index_name = f"{name}_idx"[:63]
        index = _ident(index_name, "index")
        state = _index_state(index_name)
        with op.get_context().autocommit_block():
            if state == "invalid":  # left by an interrupted build: useless, and it blocks the name
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
            if state != "valid":
                op.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {index} ON {t} ({cols})")
        op.execute(f"ALTER TABLE {t} ADD CONSTRAINT {_ident(name, 'constraint')} UNIQUE USING INDEX {index}")
    else:
        op.execute(f"ALTER TABLE {t} ADD UNIQUE INDEX {_ident(name, 'index')} ({cols}), ALGORITHM=INPLACE, LOCK=NONE")


def _trigger_names(table: str, old: str, new: str) -> tuple[str, str]:
    base = f"ec_sync_{table}_{old}_{new}"[:55]
    return base, f"{base}_fn"


def rename_column_expand(
    table: str, old: str, new: str, type_: Any, *, key: str = "id", batch_size: int = 5000
) -> None:
    """Expand half of a column rename: add ``new``, keep it and ``old`` equal on every write
    (triggers), and backfill. Both app versions work; the contract half drops ``old``."""
    import sqlalchemy as sa

    op = _op()
    if not _column_exists(table, new):
        op.add_column(table, sa.Column(new, type_, nullable=True))
    t, o, n = _ident(table, "table"), _ident(old, "column"), _ident(new, "column")
    trigger, function = _trigger_names(table, old, new)
    if _family() == "postgresql":
        op.execute(
            f"CREATE OR REPLACE FUNCTION {_ident(function)}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            "  IF TG_OP = 'INSERT' THEN\n"
            f"    IF NEW.{n} IS NULL THEN NEW.{n} := NEW.{o}; END IF;\n"
            f"    IF NEW.{o} IS NULL THEN NEW.{o} := NEW.{n}; END IF;\n"
            f"  ELSIF NEW.{n} IS DISTINCT FROM OLD.{n} THEN NEW.{o} := NEW.{n};\n"
            f"  ELSIF NEW.{o} IS DISTINCT FROM OLD.{o} THEN NEW.{n} := NEW.{o};\n"
            "  END IF;\n"
            "  RETURN NEW;\n"
            "END $$"
        )
        op.execute(f"DROP TRIGGER IF EXISTS {_ident(trigger)} ON {t}")  # a rerun replaces it
        op.execute(
            f"CREATE TRIGGER {_ident(trigger)} BEFORE INSERT OR UPDATE ON {t} FOR EACH ROW "
            f"EXECUTE FUNCTION {_ident(function)}()"
        )
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {_ident(trigger + '_i')}")
        op.execute(f"DROP TRIGGER IF EXISTS {_ident(trigger + '_u')}")
        op.execute(
            f"CREATE TRIGGER {_ident(trigger + '_i')} BEFORE INSERT ON {t} FOR EACH ROW BEGIN "
            f"IF NEW.{n} IS NULL THEN SET NEW.{n} = NEW.{o}; END IF; "
            f"IF NEW.{o} IS NULL THEN SET NEW.{o} = NEW.{n}; END IF; END"
        )
        op.execute(
            f"CREATE TRIGGER {_ident(trigger + '_u')} BEFORE UPDATE ON {t} FOR EACH ROW BEGIN "
            f"IF NOT (NEW.{n} <=> OLD.{n}) THEN SET NEW.{o} = NEW.{n}; "
            f"ELSEIF NOT (NEW.{o} <=> OLD.{o}) THEN SET NEW.{n} = NEW.{o}; END IF; END"
        )
    backfill(table, set_={new: o}, where=f"{n} IS NULL AND {o} IS NOT NULL", key=key, batch_size=batch_size)


def rename_column_contract(table: str, old: str, new: str) -> None:
    """Contract half of a column rename: drop the sync trigger(s) and the old column."""
    op = _op()
    t = _ident(table, "table")
    trigger, function = _trigger_names(table, old, new)
    if _family() == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_ident(trigger)} ON {t}")
        op.execute(f"DROP FUNCTION IF EXISTS {_ident(function)}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {_ident(trigger + '_i')}")
        op.execute(f"DROP TRIGGER IF EXISTS {_ident(trigger + '_u')}")
    if not _online() or _column_exists(table, old):
        op.drop_column(table, old)

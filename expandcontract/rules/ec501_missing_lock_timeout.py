from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext, table_key
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c

LOCKING_CHANGES = (
    c.AddColumn,
    c.DropColumn,
    c.RenameColumn,
    c.AlterColumnType,
    c.SetNotNull,
    c.DropNotNull,
    c.SetDefault,
    c.AddConstraint,
    c.DropConstraint,
    c.DropTable,
    c.RenameTable,
    c.CreateIndex,
    c.DropIndex,
    c.TableRebuild,
    c.Truncate,
)


def takes_blocking_lock(change: c.Change, family: str) -> bool:
    """Whether ``change`` waits for a lock that, while it waits, makes the old version's reads or
    writes queue behind it (measured per statement: docs/reference/measured.md). On MySQL and
    MariaDB every ALTER, RENAME, DROP and TRUNCATE waits for the table's metadata lock; on
    PostgreSQL the CONCURRENTLY forms and SHARE UPDATE EXCLUSIVE settings do not block DML."""
    if isinstance(change, (c.CreateIndex, c.DropIndex, c.Maintenance)) and change.concurrently:
        return family != "postgresql"
    if isinstance(change, (*LOCKING_CHANGES, c.Maintenance, c.LockTable)):
        return True
    if isinstance(change, c.Other) and change.table:
        if change.what == "alter table metadata":
            return True
        return family != "postgresql" and change.what in ("alter table settings", "alter table options")
    return False


def first_change_without(ctx: UnitContext, setting: str) -> c.Change | None:
    """The first lock-taking change on an existing table that comes before any ``SET setting``
    in the unit (None when the runner sets timeouts, or the setting comes first)."""
    if ctx.settings.runner_sets_timeouts:
        return None
    created: set[str] = set()
    for change in ctx.changes:
        if isinstance(change, c.SetSetting) and change.name.lower() == setting:
            return None
        if isinstance(change, c.CreateTable):
            created.add(table_key(change.table))
        elif takes_blocking_lock(change, ctx.target.family) and table_key(change.table) not in created:
            return change
    return None


class MissingLockTimeout(Rule):
    """Flags DDL on existing tables with no lock timeout set first (opt-in).

    ## What it does
    Reports the first statement that takes a table lock when no `SET lock_timeout`
    (PostgreSQL) or `SET lock_wait_timeout` (MySQL/MariaDB) came before it in the revision -
    a lock that, while the statement waits for it, makes the old version's queries wait too:
    on MySQL/MariaDB every ALTER, RENAME, DROP and TRUNCATE (the metadata lock); on PostgreSQL
    every statement except the `CONCURRENTLY` forms and the settings that take SHARE UPDATE
    EXCLUSIVE (`SET STATISTICS`, `SET (fillfactor ...)`, `VALIDATE CONSTRAINT`), as measured
    per statement in docs/reference/measured.md.
    Off by default; select it with `extend-select = ["EC501"]`. Set
    `runner-sets-timeouts = true` when your runner (ec's, or env.py) sets timeouts itself.

    ## Why is this bad?
    The lock queue outage: an ALTER waiting for its lock behind one long transaction blocks
    every query that arrives after it. Without a timeout the ALTER waits - and the site stalls
    - for as long as that transaction runs.

    ## Example
    ```sql
    ALTER TABLE users ADD COLUMN nickname text;
    ```

    ## Use instead
    ```sql
    SET lock_timeout = '2s';
    ALTER TABLE users ADD COLUMN nickname text;
    ```
    and retry on timeout (ec's runner retries with backoff).

    ## Alembic
    ```python
    def upgrade():
        op.execute("SET LOCAL lock_timeout = '2s'")
        op.add_column("users", sa.Column("nickname", sa.Text()))
    ```
    """

    code = "EC501"
    name = "missing-lock-timeout"
    category = "hygiene"
    severity = "warning"
    opt_in = True
    fix = "SET lock_timeout (PostgreSQL) / lock_wait_timeout (MySQL) before the DDL, or let ec's runner set it."

    def check_unit(self, ctx: UnitContext) -> Iterator[Hit]:
        wanted = "lock_timeout" if ctx.target.family == "postgresql" else "lock_wait_timeout"
        change = first_change_without(ctx, wanted)
        if change is not None:
            yield Hit(
                f"No {wanted} is set before this DDL: it can wait for its lock forever, blocking others.", change=change
            )

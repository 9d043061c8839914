from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class LockTable(Rule):
    """Flags an explicit `LOCK TABLE` in a migration.

    ## What it does
    Reports `LOCK TABLE ...` in any mode.

    ## Why is this bad?
    An explicit lock is held until the migration's transaction commits - through every
    statement after it. In ACCESS EXCLUSIVE mode (the default) nothing else can touch the
    table, and the lock request itself queues everyone behind any long query.

    ## Example
    ```sql
    LOCK TABLE users IN ACCESS EXCLUSIVE MODE;
    ```

    ## Use instead
    Let each statement take the lock it needs, with a short `lock_timeout` and retries
    (ec's runner does this).

    ## Alembic
    ```python
    op.execute("SET LOCAL lock_timeout = '2s'")
    ```
    """

    code = "EC211"
    name = "lock-table"
    category = "lock"
    dialects = POSTGRESQL
    fix = "Remove the explicit lock; rely on statement locks with a short lock_timeout and retries."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.LockTable) and not ctx.is_new_table(change.table):
            yield Hit(f"LOCK TABLE {change.table} IN {change.mode} MODE is held until the migration commits.")

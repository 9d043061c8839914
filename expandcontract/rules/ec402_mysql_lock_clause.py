from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import MYSQL, Hit, Rule
from expandcontract.sql import changes as c


class MysqlLockClause(Rule):
    """Flags an explicit `LOCK=SHARED` or `LOCK=EXCLUSIVE` on a MySQL/MariaDB ALTER.

    ## What it does
    Reports ALTER TABLE / CREATE INDEX statements that ask for a blocking lock level.

    ## Why is this bad?
    `LOCK=SHARED` blocks every write and `LOCK=EXCLUSIVE` every read and write for the whole
    operation, even where InnoDB could have done it online.

    ## Example
    ```sql
    ALTER TABLE users ADD INDEX ix_email (email), LOCK=EXCLUSIVE;
    ```

    ## Use instead
    ```sql
    ALTER TABLE users ADD INDEX ix_email (email), ALGORITHM=INPLACE, LOCK=NONE;
    ```

    ## Alembic
    ```python
    op.execute("ALTER TABLE users ADD INDEX ix_email (email), ALGORITHM=INPLACE, LOCK=NONE")
    ```
    """

    code = "EC402"
    name = "mysql-lock-clause"
    category = "lock"
    dialects = MYSQL
    fix = "Use LOCK=NONE (with ALGORITHM=INPLACE or INSTANT) so the server refuses instead of blocking."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if change.lock in ("SHARED", "EXCLUSIVE") and not ctx.is_new_table(change.table):
            blocked = "writes" if change.lock == "SHARED" else "reads and writes"
            yield Hit(f"LOCK={change.lock} blocks {blocked} on {change.table} for the whole ALTER.")

from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class TruncateTable(Rule):
    """Flags `TRUNCATE` in a migration.

    ## What it does
    Reports `TRUNCATE [TABLE] ...` (with or without `CASCADE`).

    ## Why is this bad?
    It removes every row the old color still serves, takes an ACCESS EXCLUSIVE lock on
    PostgreSQL, and with `CASCADE` silently empties every table that references it.

    ## Example
    ```sql
    TRUNCATE TABLE sessions CASCADE;
    ```

    ## Use instead
    Delete in batches with a `WHERE` clause, or stop using the table and drop it in a contract
    revision.

    ## Alembic
    ```python
    op.execute("DELETE FROM sessions WHERE expires_at < now() - interval '30 days'")
    ```
    """

    code = "EC108"
    name = "truncate-table"
    category = "contract"
    phase = "contract"
    fix = "Delete the rows you mean in batches with a WHERE clause, or drop the table in a contract revision."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.Truncate) and not ctx.is_new_table(change.table):
            cascade = " with CASCADE (every referencing table is emptied too)" if change.cascade else ""
            yield Hit(f"TRUNCATE {change.table}{cascade} removes data the old color still serves.")

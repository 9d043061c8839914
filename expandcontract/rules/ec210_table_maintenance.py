from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class TableMaintenance(Rule):
    """Flags REINDEX (without CONCURRENTLY), VACUUM FULL and CLUSTER in a migration.

    ## What it does
    Reports table-wide maintenance statements that hold an exclusive lock for their whole run.

    ## Why is this bad?
    `VACUUM FULL` and `CLUSTER` rewrite the table under ACCESS EXCLUSIVE; a plain `REINDEX`
    blocks writes (and reads that would use the index) while it rebuilds.

    ## Example
    ```sql
    VACUUM FULL orders;
    ```

    ## Use instead
    `REINDEX ... CONCURRENTLY` (PostgreSQL 12+) in an autocommit block; for bloat use
    `pg_repack` outside the migration.

    ## Alembic
    ```python
    with op.get_context().autocommit_block():
        op.execute("REINDEX INDEX CONCURRENTLY ix_orders_user_id")
    ```
    """

    code = "EC210"
    name = "table-maintenance"
    category = "lock"
    dialects = POSTGRESQL
    fix = "Use REINDEX CONCURRENTLY in an autocommit block, or pg_repack outside the migration."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.Maintenance) or change.kind == "optimize":
            return
        if change.kind == "reindex" and change.concurrently:
            return
        names = {"reindex": "REINDEX without CONCURRENTLY", "vacuum_full": "VACUUM FULL", "cluster": "CLUSTER"}
        yield Hit(f"{names.get(change.kind, change.kind)} holds an exclusive lock for the whole rebuild.")

from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class DropIndexNonConcurrently(Rule):
    """Flags `DROP INDEX` without `CONCURRENTLY` on PostgreSQL.

    ## What it does
    Reports index drops that do not use `CONCURRENTLY`, unless the table was created in the
    same revision.

    ## Why is this bad?
    `DROP INDEX` takes an ACCESS EXCLUSIVE lock on the table. It is quick once granted, but
    it queues behind any long query, and every read and write queues behind it.

    ## Example
    ```sql
    DROP INDEX ix_orders_user_id;
    ```

    ## Use instead
    ```sql
    DROP INDEX CONCURRENTLY IF EXISTS ix_orders_user_id;
    ```
    outside a transaction block.

    ## Alembic
    ```python
    with op.get_context().autocommit_block():
        op.drop_index("ix_orders_user_id", table_name="orders", postgresql_concurrently=True)
    ```
    """

    code = "EC202"
    name = "drop-index-non-concurrently"
    category = "lock"
    dialects = POSTGRESQL
    severity = "warning"
    fix = "Use DROP INDEX CONCURRENTLY (postgresql_concurrently=True) inside op.get_context().autocommit_block()."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.DropIndex) and not change.concurrently and not ctx.is_new_table(change.table):
            yield Hit(
                f"Dropping index {change.name} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock and queues "
                "behind long queries."
            )

from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class CreateIndexNonConcurrently(Rule):
    """Flags `CREATE INDEX` without `CONCURRENTLY` on an existing PostgreSQL table.

    ## What it does
    Reports index builds on tables that existed before the revision, unless they use
    `CONCURRENTLY`.

    ## Why is this bad?
    A plain `CREATE INDEX` holds a SHARE lock for the whole build: every INSERT, UPDATE and
    DELETE on the table waits, for minutes on a large table.

    ## Example
    ```sql
    CREATE INDEX ix_orders_user_id ON orders (user_id);
    ```

    ## Use instead
    ```sql
    CREATE INDEX CONCURRENTLY ix_orders_user_id ON orders (user_id);
    ```
    outside a transaction block. A failed concurrent build leaves an INVALID index: drop it
    and retry.

    ## Alembic
    ```python
    with op.get_context().autocommit_block():
        op.create_index("ix_orders_user_id", "orders", ["user_id"], postgresql_concurrently=True)
    ```
    """

    code = "EC201"
    name = "create-index-non-concurrently"
    category = "lock"
    dialects = POSTGRESQL
    fix = "Use CREATE INDEX CONCURRENTLY (postgresql_concurrently=True) inside op.get_context().autocommit_block()."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.CreateIndex) and not change.concurrently and not ctx.is_new_table(change.table):
            yield Hit(
                f"Building index {(change.name + ' ') if change.name else ''}on {change.table or 'an existing table'} "
                "without CONCURRENTLY "
                "blocks writes for the whole build."
            )

from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class TableMaintenance(Rule):
    """Flags REINDEX (without CONCURRENTLY), VACUUM FULL, CLUSTER, SET LOGGED/UNLOGGED, SET TABLESPACE.

    ## What it does
    Reports table-wide statements that hold a blocking lock for a whole rebuild or rewrite.

    ## Why is this bad?
    `VACUUM FULL`, `CLUSTER`, `ALTER TABLE ... SET LOGGED/UNLOGGED` and `SET TABLESPACE` (to
    another tablespace) rewrite the table under
    ACCESS EXCLUSIVE; a plain `REINDEX` blocks writes (and reads that would use the index)
    while it rebuilds (measured: docs/reference/measured.md).

    ## Example
    ```sql
    VACUUM FULL orders;
    ```

    ## Use instead
    `REINDEX ... CONCURRENTLY` (PostgreSQL 12+) in an autocommit block; for bloat use
    `pg_repack` outside the migration; create a table UNLOGGED (or LOGGED) from the start, or
    switch it in a maintenance window.

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
        if not isinstance(change, c.Maintenance) or (change.kind not in _REWRITES and change.kind != "reindex"):
            return
        if change.kind == "reindex" and change.concurrently:
            return
        if change.kind == "reindex":
            yield Hit(
                "REINDEX without CONCURRENTLY blocks writes (and reads that use the indexes) for the whole rebuild."
            )
            return
        yield Hit(
            f"{_REWRITES[change.kind]} rewrites the table under an ACCESS EXCLUSIVE lock: reads and writes wait for "
            "the whole rewrite."
        )


#: Maintenance kinds that rewrite the table (measured: docs/reference/measured.md).
_REWRITES = {
    "vacuum_full": "VACUUM FULL",
    "cluster": "CLUSTER",
    "set_logged": "SET LOGGED",
    "set_unlogged": "SET UNLOGGED",
    "set_tablespace": "SET TABLESPACE",
}

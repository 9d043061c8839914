from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class UnbatchedDataChange(Rule):
    """Flags a whole-table UPDATE or DELETE in a migration.

    ## What it does
    Reports `UPDATE` and `DELETE` statements without a `WHERE` clause on tables that existed
    before the revision.

    ## Why is this bad?
    One statement locks every row it touches until the migration commits: concurrent writes
    to those rows wait, the transaction grows without bound, replicas lag, and on MySQL the
    undo log balloons. A failure rolls all of it back.

    ## Example
    ```sql
    UPDATE users SET status = 'active';
    ```

    ## Use instead
    Backfill in batches of a few thousand rows by key range, committing each batch (ec's
    `backfill()` helper does this, resumably).

    ## Alembic
    ```python
    op.execute("UPDATE users SET status = 'active' WHERE status IS NULL AND id BETWEEN 1 AND 5000")
    ```
    """

    code = "EC212"
    name = "unbatched-data-change"
    category = "lock"
    severity = "warning"
    fix = "Backfill in key-range batches committed one by one (expandcontract's backfill helper)."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if (
            isinstance(change, c.DataChange)
            and change.verb in ("UPDATE", "DELETE")
            and not change.has_where
            and not ctx.is_new_table(change.table)
        ):
            yield Hit(f"{change.verb} without WHERE rewrites every row of {change.table} in one transaction.")

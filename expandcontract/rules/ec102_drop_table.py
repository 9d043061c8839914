from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class DropTable(Rule):
    """Flags dropping a table: a contract change.

    ## What it does
    Reports `DROP TABLE` and `op.drop_table()` for a table not created in the same revision.

    ## Why is this bad?
    The old color still queries the table; every request that touches it fails after the drop.
    The data is gone too: rolling back the deploy cannot bring it back.

    ## Example
    ```sql
    DROP TABLE legacy_sessions;
    ```

    ## Use instead
    Stop using the table in a release, retire the old color, then drop it in a revision
    declared `phase = "contract"`. Consider renaming it aside first and dropping it a release
    later, so a rollback can still find the data.

    ## Alembic
    ```python
    phase = "contract"

    def upgrade():
        op.drop_table("legacy_sessions")
    ```
    """

    code = "EC102"
    name = "drop-table"
    category = "contract"
    phase = "contract"
    fix = "Stop using the table, retire the old color, then drop it in a revision declared phase = 'contract'."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.DropTable) and not ctx.is_new_table(change.table):
            yield Hit(f"Dropping table {change.table} breaks the old color, which still queries it.")

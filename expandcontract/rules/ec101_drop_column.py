from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class DropColumn(Rule):
    """Flags dropping a column: a contract change.

    ## What it does
    Reports `ALTER TABLE ... DROP COLUMN` and `op.drop_column()` on a table that existed
    before the revision.

    ## Why is this bad?
    The old color still selects, inserts and maps that column. Once it is gone its queries
    fail (`column "x" does not exist`), and ORMs that list every mapped column in INSERTs fail
    on every write.

    ## Example
    ```sql
    ALTER TABLE users DROP COLUMN legacy_flag;
    ```

    ## Use instead
    1. Release code that no longer reads or writes the column (and, for SQLAlchemy, remove it
       from the model or mark it `deferred`).
    2. Retire the old color (`ec retire blue`).
    3. Drop the column in a revision declared `phase = "contract"`; ec runs it only after
       the old color is retired.

    ## Alembic
    ```python
    phase = "contract"

    def upgrade():
        op.drop_column("users", "legacy_flag")
    ```
    """

    code = "EC101"
    name = "drop-column"
    category = "contract"
    phase = "contract"
    fix = (
        "Stop using the column in the new release, retire the old color, then drop it in a revision "
        "declared phase = 'contract'."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.DropColumn) and not ctx.is_new_table(change.table):
            yield Hit(f"Dropping column {change.table}.{change.column} breaks the old color, which still uses it.")

from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class RenameTable(Rule):
    """Flags renaming a table: a contract change.

    ## What it does
    Reports `ALTER TABLE ... RENAME TO`, MySQL `RENAME TABLE a TO b` and `op.rename_table()`.

    ## Why is this bad?
    The old color keeps querying the old name and fails the moment the rename commits.

    ## Example
    ```sql
    ALTER TABLE customers RENAME TO clients;
    ```

    ## Use instead
    Create the new table (or an updatable view with the new name over the old table) in an
    expand revision, move the code, then drop the old name in a contract revision. On
    PostgreSQL, `ALTER TABLE customers RENAME TO clients` plus `CREATE VIEW customers AS
    SELECT * FROM clients` keeps simple reads and writes of the old name working until
    contract.

    ## Alembic
    ```python
    phase = "expand"

    def upgrade():
        # The new name first, as a simple (updatable) view: both colors read and write through
        # their own name. The contract revision drops the view and renames the table.
        op.execute("CREATE VIEW clients AS SELECT * FROM customers")
    ```
    """

    code = "EC104"
    name = "rename-table"
    category = "contract"
    phase = "contract"
    fix = (
        "Create the new name alongside the old one (new table or a view), move the code, drop the old name in contract."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.RenameTable) and not ctx.is_new_table(change.table):
            yield Hit(f"Renaming table {change.table} to {change.new_name} breaks the old color, which still uses it.")

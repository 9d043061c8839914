from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class AddRequiredColumn(Rule):
    """Flags adding a NOT NULL column without a default to an existing table.

    ## What it does
    Reports `ADD COLUMN ... NOT NULL` with no `DEFAULT` (and no identity or generated value)
    on a table that existed before the revision.

    ## Why is this bad?
    The old color's INSERTs do not name the new column, so each one fails with a NOT NULL
    violation. On PostgreSQL the statement itself also fails if the table has any rows.

    ## Example
    ```python
    op.add_column("users", sa.Column("tenant_id", sa.BigInteger(), nullable=False))
    ```

    ## Use instead
    Add the column nullable (or with a constant server default) in expand, backfill it, and
    make it NOT NULL in a contract revision once the old color is retired.

    ## Alembic
    ```python
    phase = "expand"
    def upgrade():
        op.add_column("users", sa.Column("tenant_id", sa.BigInteger(), nullable=True))
    ```
    """

    code = "EC107"
    name = "add-required-column"
    category = "contract"
    phase = "contract"
    fix = "Add the column nullable or with a constant server default; set NOT NULL later, in a contract revision."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.AddColumn) or ctx.is_new_table(change.table):
            return
        col = change.column
        generated = col.default is not None or col.identity or col.autoincrement or col.generated_stored
        if not col.nullable and not generated:
            yield Hit(
                f"Column {change.table}.{col.name} is NOT NULL without a default: the old color's inserts will fail."
            )

from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class RenameColumn(Rule):
    """Flags renaming a column: a contract change.

    ## What it does
    Reports `ALTER TABLE ... RENAME [COLUMN] a TO b` (including the `RENAME a TO b` form
    Alembic renders on PostgreSQL, which other linters miss), MySQL `CHANGE old new ...`, and
    `op.alter_column(..., new_column_name=...)`.

    ## Why is this bad?
    A rename is a drop of the old name and an add of the new one, at the same instant. The old
    color keeps using the old name and fails; the new color cannot run before the rename.
    There is no deploy order in which both work.

    ## Example
    ```python
    op.alter_column("users", "name", new_column_name="full_name")
    ```

    ## Use instead
    Rename in three releases (expand, migrate, contract):
    1. expand: add `full_name`, keep both in sync (trigger or dual writes) and backfill it;
    2. release code that reads and writes `full_name` only;
    3. contract (after the old color is retired): drop `name` and the sync trigger.

    ## Alembic
    ```python
    # expand
    phase = "expand"
    def upgrade():
        op.add_column("users", sa.Column("full_name", sa.Text()))
        op.execute("UPDATE users SET full_name = name WHERE full_name IS NULL")

    # contract, a later release
    phase = "contract"
    def upgrade():
        op.drop_column("users", "name")
    ```
    """

    code = "EC103"
    name = "rename-column"
    category = "contract"
    phase = "contract"
    fix = (
        "Add the new column and keep both in sync (expand), move the code to it, then drop the old one "
        "in a revision declared phase = 'contract'."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.RenameColumn) and not ctx.is_new_table(change.table):
            yield Hit(
                f"Renaming column {change.table}.{change.column} to {change.new_name} breaks the old color, "
                f"which still uses {change.column}."
            )

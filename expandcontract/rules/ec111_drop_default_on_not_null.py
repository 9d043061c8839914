from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class DropDefaultOnNotNull(Rule):
    """Flags dropping the default of a NOT NULL column: a contract change.

    ## What it does
    Reports `ALTER COLUMN ... DROP DEFAULT` (and `op.alter_column(..., server_default=None)`) on
    a column that is NOT NULL, as the schema before the change shows it (the revisions before
    this one, `--schema` or `--url`); without that knowledge it stays silent. A common form is
    a NOT NULL column added with a temporary server default that the same revision drops.

    ## Why is this bad?
    The old color's INSERTs do not name the column (it predates it, or relied on the default).
    While the default exists the database fills it in; once it is dropped, every such INSERT
    fails with a NOT NULL violation.

    ## Example
    ```python
    op.add_column("users", sa.Column("tier", sa.Text(), nullable=False, server_default="free"))
    op.alter_column("users", "tier", server_default=None)
    ```

    ## Use instead
    Keep the default while any color that does not write the column runs; drop it in a
    contract revision after that color is retired (or keep it for good).

    ## Alembic
    ```python
    phase = "expand"

    def upgrade():
        op.add_column("users", sa.Column("tier", sa.Text(), nullable=False, server_default="free"))
    ```
    """

    code = "EC111"
    name = "drop-default-on-not-null"
    category = "contract"
    phase = "contract"
    fix = "Keep the default until every color writing without the column is retired; drop it in a contract revision."
    needs = (
        "Whether the column is NOT NULL, and had a default (the revisions before this one, `--schema` or `--url`). "
        "Without that knowledge nothing is reported: dropping a nullable column's default breaks nothing. On "
        "MySQL/MariaDB, `--url` also reads the server's `sql_mode`: not strict, the old color's inserts do not fail "
        "but silently store the implicit default, and the finding says so."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.SetDefault) or change.default is not None or ctx.is_new_table(change.table):
            return
        before = ctx.column_before(change.table, change.column)
        if before is not None and before.nullable is False and before.default is not None and not before.identity:
            if ctx.target.family == "mysql" and ctx.facts.schema.mysql_strict() is False:
                mode = ctx.facts.schema.sql_mode or "''"
                effect = (
                    f"with the server's sql_mode ({mode}, not strict) the old color's inserts that leave the column "
                    "out silently store the type's implicit default instead."
                )
            else:
                effect = "breaks the old color's inserts that leave the column out."
            yield Hit(f"Dropping the default of {change.table}.{change.column}, which is NOT NULL, {effect}")

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
    needs = (
        "Nothing to report the change; on MySQL/MariaDB the server's `sql_mode` (read with `--url`) says what the "
        "old color's inserts do: fail (strict, the default) or silently store the implicit default (not strict)."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.AddColumn) or ctx.is_new_table(change.table):
            return
        col = change.column
        generated = col.default is not None or col.identity or col.autoincrement or col.generated_stored
        if not col.nullable and not generated:
            where = f"Column {change.table}.{col.name} is NOT NULL without a default"
            yield Hit(f"{where}: {_old_inserts(ctx)}")


def _old_inserts(ctx: UnitContext) -> str:
    """What the old color's INSERTs that leave a NOT NULL column without default out do."""
    if ctx.target.family == "mysql" and ctx.facts.schema.mysql_strict() is False:
        mode = ctx.facts.schema.sql_mode or "''"
        return (
            f"with the server's sql_mode ({mode}, not strict) the old color's inserts that leave it out silently "
            "store the type's implicit default (0, '') instead of failing."
        )
    return "the old color's inserts will fail."

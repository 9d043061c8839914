from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c
from expandcontract.sql.normalize import is_volatile


class AddColumnDefaultRewrite(Rule):
    """Flags adding a column whose default forces PostgreSQL to rewrite the table.

    ## What it does
    Reports `ADD COLUMN` on an existing table with a volatile default (`random()`,
    `clock_timestamp()`, `gen_random_uuid()`, `nextval()`, `serial`/`bigserial`), a STORED
    generated column, an identity column, or - before PostgreSQL 11 - any default at all.

    ## Why is this bad?
    Since PostgreSQL 11 a constant (or stable, like `now()`) default is stored in the catalog
    and the add is instant. A volatile value must be computed per row: PostgreSQL rewrites the
    whole table under an ACCESS EXCLUSIVE lock, blocking reads and writes.

    ## Example
    ```sql
    ALTER TABLE orders ADD COLUMN public_id uuid DEFAULT gen_random_uuid();
    ```

    ## Use instead
    Add the column without a default (or with a constant), set the default for new rows in a
    separate statement, and backfill existing rows in batches.
    ```sql
    ALTER TABLE orders ADD COLUMN public_id uuid;
    ALTER TABLE orders ALTER COLUMN public_id SET DEFAULT gen_random_uuid();
    -- batched: UPDATE orders SET public_id = gen_random_uuid() WHERE id BETWEEN ... AND public_id IS NULL;
    ```

    ## Alembic
    ```python
    op.add_column("orders", sa.Column("public_id", sa.Uuid()))
    op.alter_column("orders", "public_id", server_default=sa.text("gen_random_uuid()"))
    ```
    """

    code = "EC207"
    name = "add-column-default-rewrite"
    category = "lock"
    dialects = POSTGRESQL
    fix = "Add the column without a default, then SET DEFAULT separately and backfill existing rows in batches."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.AddColumn) or ctx.is_new_table(change.table):
            return
        col = change.column
        where = f"{change.table}.{col.name}"
        if col.autoincrement and not col.identity:
            yield Hit(f"Adding serial column {where} fills every row from a sequence: a full table rewrite.")
        elif col.identity:
            yield Hit(f"Adding identity column {where} rewrites the table to number every row.")
        elif col.generated_stored:
            yield Hit(f"Adding stored generated column {where} computes it for every row: a full table rewrite.")
        elif col.default is not None and is_volatile(col.default):
            yield Hit(f"Default {col.default} of {where} is volatile: PostgreSQL rewrites the table to fill it.")
        elif col.default is not None and not ctx.target.at_least(11):
            yield Hit(f"Before PostgreSQL 11 any default rewrites the table ({ctx.target.describe()} is configured).")

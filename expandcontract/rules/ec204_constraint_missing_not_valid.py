from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class ConstraintMissingNotValid(Rule):
    """Flags adding a FOREIGN KEY or CHECK constraint without `NOT VALID` on PostgreSQL.

    ## What it does
    Reports `ADD CONSTRAINT ... FOREIGN KEY` / `CHECK` (and `op.create_foreign_key`,
    `op.create_check_constraint`, or a column added with a `ForeignKey`) on an existing table
    without `NOT VALID`.

    ## Why is this bad?
    PostgreSQL checks every existing row while holding a lock that blocks writes (SHARE ROW
    EXCLUSIVE on both tables for a foreign key, ACCESS EXCLUSIVE for a check): on a large
    table that is a write outage for the whole scan.

    ## Example
    ```sql
    ALTER TABLE orders ADD CONSTRAINT fk_orders_user FOREIGN KEY (user_id) REFERENCES users (id);
    ```

    ## Use instead
    Add it `NOT VALID` (new rows are checked at once), then `VALIDATE CONSTRAINT` in a later
    transaction: validation takes only a SHARE UPDATE EXCLUSIVE lock, which allows writes.
    ```sql
    ALTER TABLE orders ADD CONSTRAINT fk_orders_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
    -- next transaction / revision:
    ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user;
    ```

    ## Alembic
    ```python
    op.create_foreign_key("fk_orders_user", "orders", "users", ["user_id"], ["id"], postgresql_not_valid=True)
    # The autocommit block commits the NOT VALID add: validation runs in a transaction of its own.
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user")  # ec: ignore[EC301] no orphans (checked)
    ```
    `recipes.add_foreign_key(...)` does the same (and the MySQL/MariaDB equivalent).
    """

    code = "EC204"
    name = "constraint-missing-not-valid"
    category = "lock"
    dialects = POSTGRESQL
    fix = "Add the constraint NOT VALID (postgresql_not_valid=True), then VALIDATE CONSTRAINT in a later transaction."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if (
            isinstance(change, c.AddConstraint)
            and change.kind in ("foreign_key", "check")
            and not change.not_valid
            and not ctx.is_new_table(change.table)
        ):
            what = "FOREIGN KEY" if change.kind == "foreign_key" else "CHECK"
            named = f"{change.name} " if change.name else ""
            yield Hit(
                f"Adding {what} constraint {named}on {change.table} without NOT VALID scans every row while blocking "
                "writes."
            )

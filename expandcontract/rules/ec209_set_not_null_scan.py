from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class SetNotNullScan(Rule):
    """Flags `SET NOT NULL` that scans the table under an exclusive lock on PostgreSQL.

    ## What it does
    Reports `ALTER COLUMN ... SET NOT NULL` on an existing table unless a validated
    `CHECK (column IS NOT NULL)` holds on that table - added and validated earlier in this
    revision or an earlier one, or present in the `--schema` dump or `--url` catalog - which
    lets PostgreSQL 12+ skip the scan (measured: docs/reference/measured.md).

    ## Why is this bad?
    PostgreSQL verifies every row while holding ACCESS EXCLUSIVE: reads and writes stop for
    the length of a full table scan.

    ## Example
    ```sql
    ALTER TABLE users ALTER COLUMN email SET NOT NULL;
    ```

    ## Use instead
    ```sql
    ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;
    ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;   -- later transaction
    ALTER TABLE users ALTER COLUMN email SET NOT NULL;            -- no scan on PG 12+
    ALTER TABLE users DROP CONSTRAINT users_email_not_null;
    ```

    ## Alembic
    ```python
    phase = "contract"

    def upgrade():
        # CHECK ... NOT VALID, VALIDATE in its own transaction, SET NOT NULL (no scan), drop the CHECK.
        recipes.set_not_null("users", "email")  # ec: ignore[EC301] NULLs backfilled in 0004
    ```
    """

    code = "EC209"
    name = "set-not-null-scan"
    category = "lock"
    dialects = POSTGRESQL
    fix = "First add CHECK (col IS NOT NULL) NOT VALID and VALIDATE it in an earlier transaction (PostgreSQL 12+)."
    needs = (
        "Whether the column is NOT NULL already, and the table's validated CHECK constraints (the revisions before "
        "this one, `--schema` or `--url`): NOT NULL already is no change, a validated `CHECK (col IS NOT NULL)` means "
        "no scan, and nothing is reported. Without that knowledge the change is reported."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.SetNotNull) or ctx.is_new_table(change.table) or ctx.already_not_null(change):
            return
        table = ctx.facts.schema.table(change.table)
        proven = table is not None and table.proves_not_null(change.column)
        if proven and ctx.target.at_least(12):
            return
        yield Hit(
            f"SET NOT NULL on {change.table}.{change.column} scans the whole table under an ACCESS EXCLUSIVE lock."
        )

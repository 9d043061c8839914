from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class SetNotNull(Rule):
    """Flags making an existing column NOT NULL: a contract change.

    ## What it does
    Reports `ALTER COLUMN ... SET NOT NULL`, MySQL `MODIFY ... NOT NULL` and
    `op.alter_column(..., nullable=False)` on an existing table.

    ## Why is this bad?
    The old color may still insert rows without the column (it does not know it exists, or
    writes NULL). After the change those inserts fail. It also fails outright if any existing
    row holds NULL.

    ## Example
    ```python
    op.alter_column("users", "email", nullable=False)
    ```

    ## Use instead
    Make sure every writer sets the column (new release), backfill the NULLs, retire the old
    color, then set NOT NULL in a contract revision. On PostgreSQL 12+ add a
    `CHECK (email IS NOT NULL) NOT VALID` and `VALIDATE` it first, so SET NOT NULL does not scan
    the table under an exclusive lock.

    ## Alembic
    ```python
    phase = "contract"

    def upgrade():
        # PostgreSQL: a validated CHECK first, so SET NOT NULL skips its scan (EC209).
        recipes.set_not_null("users", "email", existing_type=sa.Text())  # ec: ignore[EC301] NULLs backfilled in 0004
    ```
    """

    code = "EC106"
    name = "set-not-null"
    category = "contract"
    phase = "contract"
    fix = (
        "Backfill NULLs and make every writer set the column, retire the old color, then set NOT NULL in a "
        "revision declared phase = 'contract'."
    )
    needs = (
        "Whether the column is NOT NULL already (the revisions before this one, `--schema` or `--url`): then the "
        "change is no change and nothing is reported. Without that knowledge the change is reported."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.SetNotNull) and not ctx.is_new_table(change.table) and not ctx.already_not_null(change):
            where = f"{change.table}.{change.column}"
            if change.source == "sql" and ctx.target.family == "mysql":
                yield Hit(
                    f"MODIFY declares {where} NOT NULL: if it was nullable, inserts from the old color that omit it "
                    "will fail."
                )
            else:
                yield Hit(f"Making {where} NOT NULL breaks inserts from the old color that leave it empty.")

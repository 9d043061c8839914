from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c
from expandcontract.sql.types import postgres_rewrite_free


class TypeChangeRewrite(Rule):
    """Flags a PostgreSQL column type change that rewrites the table.

    ## What it does
    Reports `ALTER COLUMN ... TYPE` on an existing table unless the change is binary
    coercible or only relaxes a limit: `varchar(n)` to a longer `varchar` or `text`,
    `numeric(p,s)` to a larger precision at the same scale, `cidr` to `inet`. Note that
    `integer` to `bigint`, compatible for the old code, still rewrites every row.

    ## Why is this bad?
    The rewrite holds an ACCESS EXCLUSIVE lock: no reads, no writes, and indexes on the
    column are rebuilt too.

    ## Example
    ```sql
    ALTER TABLE events ALTER COLUMN id TYPE bigint;
    ```

    ## Use instead
    Add a new column of the new type, keep it in sync with a trigger, backfill in batches,
    build its indexes concurrently, then swap in a short transaction and drop the old column
    in contract.

    ## Alembic
    ```python
    op.add_column("events", sa.Column("id_new", sa.BigInteger()))
    # trigger + batched backfill, then in contract: swap and drop
    ```
    """

    code = "EC208"
    name = "type-change-rewrite"
    category = "lock"
    dialects = POSTGRESQL
    fix = (
        "Add a new column of the new type, sync and backfill it in batches, then swap; or accept the rewrite "
        "on a small table."
    )
    needs = (
        "The column's previous type: from the migration (`existing_type`, MySQL `CHANGE`), else from the schema ec "
        "knows (the revisions before this one, `--schema` or `--url`). Without it the rule reports the change, saying "
        "the previous type is unknown."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.AlterColumnType) or ctx.is_new_table(change.table) or change.new_type is None:
            return
        where = f"{change.table}.{change.column}"
        old = ctx.previous_type(change)
        if old is None:
            yield Hit(
                f"Type change of {where} to {change.new_type} may rewrite the table (previous type unknown: pass "
                "existing_type=, or --schema/--url so ec knows the table)."
            )
        elif not postgres_rewrite_free(old, change.new_type) or change.using:
            yield Hit(
                f"Changing {where} from {old} to {change.new_type} rewrites the table under an ACCESS EXCLUSIVE lock."
            )

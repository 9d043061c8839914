from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.rules.ec501_missing_lock_timeout import first_change_without


class MissingStatementTimeout(Rule):
    """Flags PostgreSQL DDL on existing tables with no statement timeout set first (opt-in).

    ## What it does
    Reports the first lock-taking statement when no `SET statement_timeout` came before it in
    the revision. Off by default; select it with `extend-select = ["EC504"]`, or set
    `runner-sets-timeouts = true` when your runner sets it.

    ## Why is this bad?
    `lock_timeout` bounds the wait for a lock; `statement_timeout` bounds how long the lock is
    then held. A statement that turns out to rewrite or scan a large table keeps its ACCESS
    EXCLUSIVE lock for as long as it runs, and nothing stops it.

    ## Example
    ```sql
    SET lock_timeout = '2s';
    ALTER TABLE events ALTER COLUMN id TYPE bigint;
    ```

    ## Use instead
    ```sql
    SET lock_timeout = '2s';
    SET statement_timeout = '30s';
    ALTER TABLE events ALTER COLUMN id TYPE bigint;
    ```

    ## Alembic
    ```python
    def upgrade():
        op.execute("SET LOCAL statement_timeout = '30s'")
        op.execute("SET LOCAL lock_timeout = '2s'")
        op.add_column("events", sa.Column("note", sa.Text()))
    ```
    """

    code = "EC504"
    name = "missing-statement-timeout"
    category = "hygiene"
    dialects = POSTGRESQL
    severity = "warning"
    opt_in = True
    fix = "SET statement_timeout before the DDL, or let ec's runner set it."

    def check_unit(self, ctx: UnitContext) -> Iterator[Hit]:
        change = first_change_without(ctx, "statement_timeout")
        if change is not None:
            yield Hit(
                "No statement_timeout is set before this DDL: once it holds its lock nothing bounds how long.",
                change=change,
            )

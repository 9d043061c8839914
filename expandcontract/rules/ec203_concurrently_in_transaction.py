from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class ConcurrentlyInTransaction(Rule):
    """Flags `CONCURRENTLY` operations that would run inside a transaction block.

    ## What it does
    Reports `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY` and
    `REINDEX ... CONCURRENTLY` that run in a transaction: in an Alembic revision outside
    `autocommit_block()` (Alembic wraps each migration in a transaction on PostgreSQL), or
    between `BEGIN` and `COMMIT` in a SQL file.

    ## Why is this bad?
    PostgreSQL refuses them: `CREATE INDEX CONCURRENTLY cannot run inside a transaction block`.
    The deploy fails half-way, after the statements before it.

    ## Example
    ```python
    def upgrade():
        op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)
    ```

    ## Use instead
    Run it in an autocommit block (and set `transaction_per_migration=True` in env.py, since
    the block commits the work before it).

    ## Alembic
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)
    ```
    """

    code = "EC203"
    name = "concurrently-in-transaction"
    category = "lock"
    dialects = POSTGRESQL
    fix = "Wrap the statement in `with op.get_context().autocommit_block():` (or run it outside BEGIN/COMMIT)."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        concurrent = isinstance(change, (c.CreateIndex, c.DropIndex, c.Maintenance)) and change.concurrently
        if concurrent and change.in_transaction:
            yield Hit("CONCURRENTLY cannot run inside a transaction block: PostgreSQL will reject this statement.")

from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class AddUniqueConstraint(Rule):
    """Flags adding a UNIQUE, PRIMARY KEY or EXCLUDE constraint that builds its index under lock.

    ## What it does
    Reports `ADD CONSTRAINT ... UNIQUE (...)`, `ADD PRIMARY KEY (...)`, `ADD CONSTRAINT ...
    EXCLUDE`, `op.create_unique_constraint()` and `op.create_primary_key()` on an existing
    table, unless the constraint reuses an index (`USING INDEX`).

    ## Why is this bad?
    PostgreSQL builds the index while holding an ACCESS EXCLUSIVE lock: no reads and no writes
    for the whole build (measured: docs/reference/measured.md). An EXCLUDE constraint has no
    `USING INDEX` form, so there is no concurrent way to add one.

    ## Example
    ```sql
    ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email);
    ```

    ## Use instead
    Build the unique index concurrently, then attach it (a quick catalog change):
    ```sql
    CREATE UNIQUE INDEX CONCURRENTLY uq_users_email_idx ON users (email);
    ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email_idx;
    ```

    ## Alembic
    ```python
    with op.get_context().autocommit_block():
        op.create_index(  # ec: ignore[EC301] duplicates removed in 0007
            "uq_users_email_idx", "users", ["email"], unique=True, postgresql_concurrently=True
        )
    op.execute("ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email_idx")
    ```
    """

    code = "EC206"
    name = "add-unique-constraint"
    category = "lock"
    dialects = POSTGRESQL
    fix = "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE (or PRIMARY KEY) USING INDEX."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if (
            isinstance(change, c.AddConstraint)
            and change.kind in ("unique", "primary_key", "exclude")
            and not change.using_index
            and not ctx.is_new_table(change.table)
        ):
            what = {"unique": "UNIQUE", "primary_key": "PRIMARY KEY", "exclude": "EXCLUDE"}[change.kind]
            message = f"Adding a {what} constraint on {change.table} builds its index under an ACCESS EXCLUSIVE lock."
            if change.kind == "exclude":
                message += " An EXCLUDE constraint has no concurrent form: add it while the table is small or idle."
            yield Hit(message)

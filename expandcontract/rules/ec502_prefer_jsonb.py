from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class PreferJsonb(Rule):
    """Suggests `jsonb` over `json` on PostgreSQL.

    ## What it does
    Reports new columns (and type changes) of type `json`.

    ## Why is this bad?
    `json` stores the raw text and re-parses it on every access, has no equality operator
    (so `SELECT DISTINCT` and `GROUP BY` fail) and cannot be indexed with GIN. Changing it to
    `jsonb` later rewrites the table.

    ## Example
    ```sql
    ALTER TABLE events ADD COLUMN payload json;
    ```

    ## Use instead
    ```sql
    ALTER TABLE events ADD COLUMN payload jsonb;
    ```

    ## Alembic
    ```python
    from sqlalchemy.dialects.postgresql import JSONB
    op.add_column("events", sa.Column("payload", JSONB()))
    ```
    """

    code = "EC502"
    name = "prefer-jsonb"
    category = "hygiene"
    dialects = POSTGRESQL
    severity = "warning"
    fix = "Use jsonb (sqlalchemy.dialects.postgresql.JSONB)."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        for name, type_ in c.declared_types(change):
            if type_ is not None and type_.name == "JSON":
                yield Hit(f"Column {change.table}.{name} is json; jsonb is smaller, faster and indexable.")

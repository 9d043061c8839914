from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class PreferTimestamptz(Rule):
    """Suggests `timestamptz` over `timestamp without time zone` on PostgreSQL.

    ## What it does
    Reports new columns (and type changes) of type `timestamp` without time zone.

    ## Why is this bad?
    A `timestamp` has no zone: two app versions (or servers) with different time zone settings
    read and write different instants for the same value, and converting later rewrites the
    table.

    ## Example
    ```sql
    ALTER TABLE orders ADD COLUMN shipped_at timestamp;
    ```

    ## Use instead
    ```sql
    ALTER TABLE orders ADD COLUMN shipped_at timestamptz;
    ```

    ## Alembic
    ```python
    op.add_column("orders", sa.Column("shipped_at", sa.DateTime(timezone=True)))
    ```
    """

    code = "EC503"
    name = "prefer-timestamptz"
    category = "hygiene"
    dialects = POSTGRESQL
    severity = "warning"
    fix = "Use timestamptz (sa.DateTime(timezone=True))."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        for name, type_ in c.declared_types(change):
            if type_ is not None and type_.name == "TIMESTAMP":
                yield Hit(f"Column {change.table}.{name} is timestamp without time zone; use timestamptz.")

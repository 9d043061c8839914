from __future__ import annotations

import re
from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import MYSQL, Hit, Rule
from expandcontract.sql import changes as c

_LITERAL_LIKE = re.compile(r"\s*(CURRENT_TIMESTAMP|NOW|LOCALTIMESTAMP|LOCALTIME)\s*(\(\s*\d*\s*\))?\s*", re.I)


class MysqlExpressionDefault(Rule):
    """Flags adding a MySQL/MariaDB column whose default is an expression.

    ## What it does
    Reports `ADD COLUMN ... DEFAULT (expression)` (MySQL 8.0.13+ expression defaults, MariaDB
    expression defaults) on an existing table. `CURRENT_TIMESTAMP` is not reported.

    ## Why is this bad?
    The value must be computed for every existing row, so the add cannot be INSTANT: the table
    is rebuilt (ALGORITHM=COPY on MySQL), blocking writes.

    ## Example
    ```sql
    ALTER TABLE orders ADD COLUMN token CHAR(36) DEFAULT (UUID());
    ```

    ## Use instead
    Add the column without a default (INSTANT), fill new rows from the application (or set
    the default afterwards), and backfill existing rows in batches.

    ## Alembic
    ```python
    op.add_column("orders", sa.Column("token", sa.CHAR(36), nullable=True))
    ```
    """

    code = "EC403"
    name = "mysql-expression-default"
    category = "lock"
    dialects = MYSQL
    fix = "Add the column without the expression default, then backfill existing rows in batches."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.AddColumn) or ctx.is_new_table(change.table):
            return
        default = change.column.default
        if default is None or change.column.default_is_constant or _LITERAL_LIKE.fullmatch(default):
            return
        yield Hit(
            f"Default {default} of {change.table}.{change.column.name} is an expression: the table is rebuilt to "
            "fill it."
        )

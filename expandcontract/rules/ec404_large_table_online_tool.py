from __future__ import annotations

from collections.abc import Iterator

from expandcontract.dialects import Target
from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import MYSQL, Hit, Rule
from expandcontract.sql import changes as c


class LargeTableOnlineTool(Rule):
    """Flags an ALTER on a large MySQL/MariaDB table that should go through gh-ost or pt-osc.

    ## What it does
    When the table's estimated row count (offline: `table-rows` in `[tool.expandcontract]`)
    is at or above `online-threshold-rows` (default 1,000,000), reports every ALTER that is
    not an INSTANT change: anything but adding a column (MySQL 8.0.12+, MariaDB 10.3+; at the
    end before MySQL 8.0.29), renaming a column, or changing a default.

    ## Why is this bad?
    Even an INPLACE alter on a large table runs for a long time, holds a metadata lock at its
    start and end (queuing every query behind it), and replicas apply it serially and lag by
    its whole duration. gh-ost and pt-online-schema-change copy in small chunks under load
    control and cut over in a moment.

    ## Example
    ```sql
    ALTER TABLE events MODIFY COLUMN payload MEDIUMTEXT;   -- events: 40M rows
    ```

    ## Use instead
    ```python
    from expandcontract import online
    online.alter("events", "MODIFY COLUMN payload MEDIUMTEXT")
    ```

    ## Alembic
    ```python
    from expandcontract import online

    def upgrade():
        online.alter("events", "MODIFY COLUMN payload MEDIUMTEXT")
    ```
    """

    code = "EC404"
    name = "large-table-online-tool"
    category = "lock"
    dialects = MYSQL
    fix = "Run the change through expandcontract.online.alter(table, alter) (gh-ost or pt-online-schema-change)."
    needs = (
        "The table's size: `table-rows` in the configuration, else the row estimate `--url` reads from the catalog. "
        "Without either nothing is reported."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.ALTER_KINDS) or ctx.is_new_table(change.table):
            return
        rows = ctx.table_rows(change.table)
        if rows is None or rows < ctx.settings.online_threshold_rows or self._instant(change, ctx):
            return
        alter = _alter_clause(change)
        yield Hit(
            f"{change.table} has about {rows:,} rows (threshold {ctx.settings.online_threshold_rows:,}): run this "
            "ALTER with an online schema-change tool.",
            fix=f'expandcontract.online.alter("{change.table}", "{alter}")',
        )

    @staticmethod
    def _instant(change: c.Change, ctx: UnitContext) -> bool:
        return is_instant(change, ctx.target)


def is_instant(change: c.Change, target: Target) -> bool:
    """Metadata-only on this server: adding a column (MySQL 8.0.12+, MariaDB 10.3+; at the end
    before MySQL 8.0.29), renaming a column, changing a default."""
    if isinstance(change, c.AddColumn):
        instant_ok = target.at_least(10, 3) if target.is_mariadb else target.at_least(8, 0, 12)
        at_end_ok = target.is_mariadb or target.at_least(8, 0, 29) or not change.positioned
        return instant_ok and at_end_ok and change.column.default_is_constant
    return isinstance(change, (c.RenameColumn, c.SetDefault))


def _alter_clause(change: c.Change) -> str:
    statement = (change.statement or "").strip().rstrip(";")
    prefix = f"ALTER TABLE {change.table} "
    if statement.upper().startswith(prefix.upper()):
        return statement[len(prefix) :].replace('"', '\\"')
    return "..."

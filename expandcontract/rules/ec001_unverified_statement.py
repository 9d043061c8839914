from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class UnverifiedStatement(Rule):
    """Reports a statement or operation ec could not analyse.

    ## What it does
    Flags SQL that the parser could not read, statements whose form ec does not recognise
    (for example `DO $$ ... $$` blocks or `ATTACH PARTITION`), and custom Alembic operations.

    ## Why is this bad?
    ec never treats what it cannot read as safe. A `DO` block can drop a column; an unknown
    operation can rewrite a table. The finding tells you that this statement was not checked,
    so a person must check it.

    ## Example
    ```sql
    DO $$ BEGIN EXECUTE 'ALTER TABLE users DROP COLUMN legacy'; END $$;
    ```

    ## Use instead
    Write the statement plainly so ec can check it, or review it and suppress the finding
    with a reason:
    ```sql
    -- ec: ignore[EC001] reviewed: only creates a helper function
    DO $$ BEGIN PERFORM 1; END $$;
    ```

    ## Alembic
    ```python
    op.execute("DO $$ ... $$")  # ec: ignore[EC001] reviewed by @dba, no DDL inside
    ```
    """

    code = "EC001"
    name = "unverified-statement"
    category = "unverified"
    severity = "warning"
    fix = "Review the statement by hand; write it in a form ec can parse, or suppress with a reason."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.Unverified):
            yield Hit(f"Cannot verify this statement: {change.reason}.")

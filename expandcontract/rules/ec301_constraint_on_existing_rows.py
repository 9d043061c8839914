from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class ConstraintOnExistingRows(Rule):
    """Warns that a new constraint may fail on rows already in the table.

    ## What it does
    Reports adding a UNIQUE, CHECK, FOREIGN KEY or PRIMARY KEY constraint, a unique index,
    `SET NOT NULL`, or `VALIDATE CONSTRAINT` on a table that existed before the revision.

    ## Why is this bad?
    If any existing row violates the constraint the statement fails in production - often
    after a long scan, half-way through a deploy - although it passed on an empty test
    database.

    ## Example
    ```sql
    ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email);
    ```

    ## Use instead
    Query for violations first and clean them up in an earlier revision or a backfill:
    ```sql
    SELECT email, count(*) FROM users GROUP BY email HAVING count(*) > 1;
    ```

    ## Alembic
    ```python
    op.execute("DELETE FROM users a USING users b WHERE a.email = b.email AND a.id > b.id")
    ```
    """

    code = "EC301"
    name = "constraint-on-existing-rows"
    category = "data"
    severity = "warning"
    fix = "Check existing rows for violations (and fix them) before adding the constraint."
    needs = (
        "For SET NOT NULL: whether the column is NOT NULL already (the revisions before this one, `--schema` or "
        "`--url`): then the change is no change and nothing is reported. Without that knowledge it is reported."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if ctx.is_new_table(change.table):
            return
        if isinstance(change, (c.AddConstraint, c.CreateIndex)) and ctx.only_null(change.table, change.columns):
            return
        if isinstance(change, c.AddConstraint) and not change.using_index and not change.not_valid:
            kind = change.kind.replace("_", " ").upper()
            if kind in ("UNIQUE", "CHECK", "FOREIGN KEY", "PRIMARY KEY"):
                yield Hit(f"Existing rows of {change.table} may violate the new {kind} constraint; the add then fails.")
        elif isinstance(change, c.CreateIndex) and change.unique:
            yield Hit(f"Existing rows of {change.table} may hold duplicates; the unique index build then fails.")
        elif isinstance(change, c.SetNotNull) and not ctx.already_not_null(change):
            yield Hit(f"Existing rows with NULL in {change.table}.{change.column} make this fail.")
        elif isinstance(change, c.ValidateConstraint):
            yield Hit(f"Validation of {change.name} fails if existing rows of {change.table} violate it.")

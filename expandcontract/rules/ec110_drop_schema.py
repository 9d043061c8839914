from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class DropSchema(Rule):
    """Flags dropping a schema or database.

    ## What it does
    Reports `DROP SCHEMA` and `DROP DATABASE`.

    ## Why is this bad?
    Everything inside goes at once - tables the old color uses included - and cannot be
    rolled back by redeploying.

    ## Example
    ```sql
    DROP SCHEMA legacy CASCADE;
    ```

    ## Use instead
    Drop the objects one by one in contract revisions after the code that used them is gone,
    then drop the empty schema.

    ## Alembic
    ```python
    phase = "contract"
    def upgrade():
        op.drop_table("report", schema="legacy")
    ```
    """

    code = "EC110"
    name = "drop-schema"
    category = "contract"
    phase = "contract"
    fix = "Drop the schema's objects in contract revisions once unused, then the empty schema."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.DropSchema):
            yield Hit(f"Dropping schema {change.name} removes every object in it, including any the old color uses.")

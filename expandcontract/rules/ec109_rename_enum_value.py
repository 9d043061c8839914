from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class RenameEnumValue(Rule):
    """Flags renaming a PostgreSQL enum value: a contract change.

    ## What it does
    Reports `ALTER TYPE ... RENAME VALUE 'a' TO 'b'`. (Removing enum values is caught by
    `change-column-type` on MySQL, and needs a new type on PostgreSQL.)

    ## Why is this bad?
    The old color still writes and compares the old label; its writes fail with
    `invalid input value for enum` and its filters silently match nothing.

    ## Example
    ```sql
    ALTER TYPE order_status RENAME VALUE 'canceled' TO 'cancelled';
    ```

    ## Use instead
    Add the new value (expand), write it from the new code, migrate rows in batches, and only
    after the old color is retired stop accepting the old value.

    ## Alembic
    ```python
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'cancelled'")
    ```
    """

    code = "EC109"
    dialects = POSTGRESQL
    name = "rename-enum-value"
    category = "contract"
    phase = "contract"
    fix = "Add the new enum value in expand, migrate rows, and retire the old value after the old color is gone."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.EnumRenameValue):
            yield Hit(
                f"Renaming value {change.value!r} of {change.type_name} to {change.new_value!r} breaks the old color, "
                f"which still writes {change.value!r}."
            )

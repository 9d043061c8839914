from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import POSTGRESQL, Hit, Rule
from expandcontract.sql import changes as c


class ValidateInSameTransaction(Rule):
    """Flags `VALIDATE CONSTRAINT` in the same transaction as the `NOT VALID` add.

    ## What it does
    Reports a `VALIDATE CONSTRAINT` for a constraint added `NOT VALID` earlier in the same
    transaction (the same Alembic revision, outside autocommit blocks).

    ## Why is this bad?
    The point of `NOT VALID` is to release the strong lock of the add before the long scan.
    In one transaction the add's lock is held until commit, so the scan runs under it anyway:
    the same write outage as adding the constraint directly.

    ## Example
    ```python
    def upgrade():
        op.create_foreign_key("fk", "orders", "users", ["user_id"], ["id"], postgresql_not_valid=True)
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk")
    ```

    ## Use instead
    Validate in a later revision (with `transaction_per_migration=True`), or after an
    autocommit boundary.

    ## Alembic
    ```python
    op.create_foreign_key("fk", "orders", "users", ["user_id"], ["id"], postgresql_not_valid=True)
    with op.get_context().autocommit_block():  # commits the add; VALIDATE gets its own transaction
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk")  # ec: ignore[EC301] no orphans (checked)
    ```
    """

    code = "EC205"
    name = "validate-in-same-transaction"
    category = "lock"
    dialects = POSTGRESQL
    fix = "Validate the constraint in a later revision, in its own transaction."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.ValidateConstraint) or not change.in_transaction:
            return
        segment = ctx.not_valid_added.get(change.name.lower())
        if segment is not None and segment == change.segment:
            yield Hit(
                f"Constraint {change.name} is validated in the transaction that added it NOT VALID: the scan runs "
                "under the add's lock."
            )

from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class PhaseMismatch(Rule):
    """Reports a revision declared `expand` that contains contract changes.

    ## What it does
    Flags a revision whose declared phase (the module attribute `phase = "expand"` or the
    `expand` branch label) says it is safe while the old color runs, but which drops,
    renames or narrows something the old code uses.

    ## Why is this bad?
    The declaration is what the deployment trusts: expand revisions run before traffic moves
    and are never held by the contract gate. A contract change inside one breaks the old
    color the moment it runs.

    ## Example
    ```python
    phase = "expand"

    def upgrade():
        op.drop_column("users", "legacy_flag")
    ```

    ## Use instead
    Move the contract change into its own revision declared `phase = "contract"`.

    ## Alembic
    ```python
    phase = "contract"

    def upgrade():
        op.drop_column("users", "legacy_flag")
    ```
    """

    code = "EC004"
    name = "phase-mismatch"
    category = "contract"
    phase = "contract"
    fix = "Move the contract change into a revision declared phase = 'contract' (or correct the declaration)."

    def check_unit(self, ctx: UnitContext) -> Iterator[Hit]:
        if ctx.declared_phase == "expand" and ctx.contract_changes:
            first = ctx.contract_changes[0]
            yield Hit(
                f"Declared expand, but line {first.line} is a contract change ({c.describe(first)}) "
                "that breaks the old color.",
                change=first,
            )

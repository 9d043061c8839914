from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class MixedPhase(Rule):
    """Reports a revision that both expands and contracts the schema.

    ## What it does
    Flags a revision (or `.sql` file) that contains both expand changes (add a table, column,
    index or constraint) and contract changes (drop, rename, narrow, SET NOT NULL).

    ## Why is this bad?
    Expand changes must run before the new color takes traffic; contract changes must wait
    until the old color is retired. One revision cannot do both at the right time: either the
    new code starts without its schema, or the old code loses columns it still reads.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("full_name", sa.Text()))
        op.drop_column("users", "name")
    ```

    ## Use instead
    Split it: the add goes into an expand revision released with the new code, the drop into
    a later revision declared `phase = "contract"`.

    ## Alembic
    ```python
    # versions/1a_add_full_name.py
    phase = "expand"
    def upgrade():
        op.add_column("users", sa.Column("full_name", sa.Text()))

    # versions/2b_drop_name.py
    phase = "contract"
    def upgrade():
        op.drop_column("users", "name")
    ```
    """

    code = "EC003"
    name = "mixed-phase"
    category = "contract"
    phase = "contract"
    fix = (
        "Split the revision: expand changes in one revision, contract changes in a later one declared "
        "phase = 'contract'."
    )

    def check_unit(self, ctx: UnitContext) -> Iterator[Hit]:
        if ctx.phase != "mixed":
            return
        first_contract = ctx.contract_changes[0]
        first_expand = ctx.expand_changes[0]
        yield Hit(
            f"This revision expands (line {first_expand.line}: {c.describe(first_expand)}) and contracts "
            f"(line {first_contract.line}: {c.describe(first_contract)}); they must run at different times.",
            change=first_contract,
        )

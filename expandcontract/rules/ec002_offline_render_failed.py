from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c


class OfflineRenderFailed(Rule):
    """Reports a revision whose `upgrade()` could not be run offline.

    ## What it does
    ec runs each revision's `upgrade()` against an offline Alembic context (no database) to
    see every operation it performs. When that fails - the revision reads from the database,
    reflects tables, imports application code that fails, or has a syntax error - the rest of
    the revision cannot be checked, and this rule says why.

    ## Why is this bad?
    Operations after the failure point are invisible to the linter, so the revision's phase
    cannot be known. A revision that queries the database also behaves differently in
    `alembic upgrade --sql`, and may do different things on different databases.

    ## Example
    ```python
    def upgrade():
        rows = op.get_bind().execute(sa.text("SELECT id FROM users")).fetchall()
        for row in rows:
            ...
    ```

    ## Use instead
    Keep schema revisions declarative; move data work into set-based SQL (`op.execute`) or a
    batched backfill, and keep imports of application code out of revision files.

    ## Alembic
    ```python
    def upgrade():
        op.execute("UPDATE users SET status = 'active' WHERE status IS NULL AND id BETWEEN 1 AND 10000")
    ```
    """

    code = "EC002"
    name = "offline-render-failed"
    category = "unverified"
    fix = "Make upgrade() runnable offline: no queries, reflection or app imports; or review the revision by hand."

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if isinstance(change, c.RenderFailed):
            yield Hit(f"Revision could not be rendered offline, the rest of it was not checked: {change.reason}.")

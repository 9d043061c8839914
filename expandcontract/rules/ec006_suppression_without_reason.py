from __future__ import annotations

from expandcontract.rules.base import Rule


class SuppressionWithoutReason(Rule):
    """Reports an `ec: ignore[...]` comment that gives no reason.

    ## What it does
    Flags suppression comments with nothing after the rule list.

    ## Why is this bad?
    A suppression says "a person checked this and it is safe here". Without the why, the next
    reader cannot tell a careful review from a silenced alarm, and cannot re-check it when the
    table grows or the deploy process changes.

    ## Example
    ```python
    op.drop_column("users", "legacy_flag")  # ec: ignore[EC101]
    ```

    ## Use instead
    ```python
    op.drop_column("users", "legacy_flag")  # ec: ignore[EC101] no reader since release 40 (PR #812)
    ```

    ## Alembic
    ```python
    op.execute("DO $$ ... $$")  # ec: ignore[EC001] only creates a helper function, reviewed by @dba
    ```
    """

    code = "EC006"
    name = "suppression-without-reason"
    category = "hygiene"
    severity = "warning"
    fix = "Say after the rule list why the finding does not apply here."
    # Findings are produced by the engine, which parses the suppression comments.

from __future__ import annotations

from expandcontract.rules.base import Rule


class UnusedSuppression(Rule):
    """Reports an `ec: ignore[...]` comment that suppresses nothing.

    ## What it does
    Flags suppression comments whose rules did not fire on the line they cover (or anywhere
    in the file, for `ignore-file`).

    ## Why is this bad?
    A stale suppression hides the next real problem written on that line, and tells readers
    a risk exists where there is none.

    ## Example
    ```python
    op.add_column("users", sa.Column("email", sa.Text()))  # ec: ignore[EC101] old drop
    ```

    ## Use instead
    Delete the comment, or move it to the statement it was meant for.

    ## Alembic
    ```python
    op.add_column("users", sa.Column("email", sa.Text()))
    ```
    """

    code = "EC005"
    name = "unused-suppression"
    category = "hygiene"
    severity = "warning"
    fix = "Remove the suppression comment, or move it to the line it was meant for."
    # Findings are produced by the engine, which knows which suppressions matched.

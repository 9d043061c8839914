"""Online schema change for large MySQL/MariaDB tables: gh-ost (default) or
pt-online-schema-change, driven from a migration or from ``ec online-alter``::

    from expandcontract import online

    def upgrade():
        online.alter("events", "MODIFY COLUMN payload MEDIUMTEXT")

Small tables (under ``online-threshold-rows``) and INSTANT changes run as a plain ALTER; the
decision and its reason are returned and recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from expandcontract.online.api import OnlineResult


def alter(table: str, alter_clause: str, **kwargs: Any) -> OnlineResult:
    """See :func:`expandcontract.online.api.alter`."""
    from expandcontract.online.api import alter as run

    return run(table, alter_clause, **kwargs)

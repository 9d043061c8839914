"""widen events.payload: TEXT -> MEDIUMTEXT copies the table, so it goes online

Revision ID: m2
"""
from alembic import op  # noqa: F401  (ec lint renders this revision offline)

from expandcontract import online

revision = "m2"
down_revision = "m1"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    # A plain ALTER would copy the table while blocking writes (lint rules EC401/EC404).
    # online.alter picks gh-ost or pt-online-schema-change for a large table, says why, and
    # records the run; offline (alembic upgrade --sql, ec lint) it writes a marker instead.
    online.alter("events", "MODIFY COLUMN payload MEDIUMTEXT")


def downgrade() -> None:
    online.alter("events", "MODIFY COLUMN payload TEXT")

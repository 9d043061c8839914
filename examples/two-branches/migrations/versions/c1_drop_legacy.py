"""contract branch root: drop accounts.legacy_flags, finishing e1tier

Revision ID: c1legacy
"""
import sqlalchemy as sa
from alembic import op

import expandcontract

revision = "c1legacy"
down_revision = "a0base"
branch_labels = ("contract",)
# The expand revision this contract step finishes: the gate lets it run once every color
# still running expects e1tier or later.
depends_on = "e1tier"


def upgrade() -> None:
    expandcontract.require_retired()
    op.drop_column("accounts", "legacy_flags")


def downgrade() -> None:
    op.add_column("accounts", sa.Column("legacy_flags", sa.Integer(), nullable=True))

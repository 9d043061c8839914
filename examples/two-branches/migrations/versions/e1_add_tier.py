"""expand branch root: accounts.tier

Revision ID: e1tier
"""
import sqlalchemy as sa
from alembic import op

revision = "e1tier"
down_revision = "a0base"
# The two-branch layout (OpenStack Neutron/Glance): every revision in this branch is expand.
branch_labels = ("expand",)
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("tier", sa.String(20), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "tier")

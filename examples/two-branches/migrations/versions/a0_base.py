"""base: accounts

Revision ID: a0base
"""
import sqlalchemy as sa
from alembic import op

revision = "a0base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("plan", sa.String(20), nullable=False),
        sa.Column("legacy_flags", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("accounts")

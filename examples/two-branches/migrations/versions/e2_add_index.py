"""expand: index on accounts.tier

Revision ID: e2index
"""
from alembic import op

revision = "e2index"
down_revision = "e1tier"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index("ix_accounts_tier", "accounts", ["tier"], postgresql_concurrently=True)


def downgrade() -> None:
    op.drop_index("ix_accounts_tier", table_name="accounts")

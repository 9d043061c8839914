"""release 2 (expand): add users.full_name next to users.name

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    # Nullable, no default: instant, and the old color's INSERTs (which do not know the
    # column) keep working.
    op.add_column("users", sa.Column("full_name", sa.String(200), nullable=True))
    with op.get_context().autocommit_block():
        op.create_index("ix_users_full_name", "users", ["full_name"], postgresql_concurrently=True)


def downgrade() -> None:
    op.drop_index("ix_users_full_name", table_name="users")
    op.drop_column("users", "full_name")

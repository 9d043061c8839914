"""release 3 (contract): drop users.name once the old color is retired

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
# Contract: breaks the release-1 code, which still reads users.name. ec holds this
# revision until that color is recorded as retired.
phase = "contract"


def upgrade() -> None:
    op.drop_column("users", "name")


def downgrade() -> None:
    op.add_column("users", sa.Column("name", sa.String(100), nullable=True))

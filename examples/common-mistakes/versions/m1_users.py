"""users table"""
import sqlalchemy as sa
from alembic import op

revision = "m1"
down_revision = None
phase = "expand"


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100)),
        sa.Column("age", sa.Integer()),
        sa.Column("email", sa.Text()),
    )
    op.create_index("ix_users_name", "users", ["name"])

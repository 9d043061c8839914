"""rename users.name in place"""
from alembic import op

revision = "m2"
down_revision = "m1"
phase = "expand"


def upgrade():
    op.alter_column("users", "name", new_column_name="full_name")

"""swap the avatar column"""
import sqlalchemy as sa
from alembic import op

revision = "m6"
down_revision = "m5"


def upgrade():
    op.add_column("users", sa.Column("avatar_url", sa.Text()))
    op.drop_column("users", "avatar")

"""tenant and public id on users"""
import sqlalchemy as sa
from alembic import op

revision = "m4"
down_revision = "m3"


def upgrade():
    op.add_column("users", sa.Column("tenant_id", sa.BigInteger(), nullable=False))
    op.add_column("users", sa.Column("public_id", sa.Uuid(), server_default=sa.text("gen_random_uuid()")))

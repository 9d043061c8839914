"""events table

Revision ID: m1
"""
import sqlalchemy as sa
from alembic import op

revision = "m1"
down_revision = None
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
    )
    # Sample rows so the online engine has something to copy.
    op.execute("INSERT INTO events (kind, payload) SELECT 'seed', REPEAT('x', 100) FROM seq_1_to_5000")


def downgrade() -> None:
    op.drop_table("events")

"""release 2 (expand): backfill users.full_name from users.name, in key ranges

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
phase = "expand"

BATCH = 5000
MAX_ID = 1_000_000


def upgrade() -> None:
    # Key-range batches: each UPDATE touches at most BATCH rows, so no long row locks.
    for low in range(0, MAX_ID, BATCH):
        op.execute(
            f"UPDATE users SET full_name = name WHERE full_name IS NULL AND id >= {low} AND id < {low + BATCH}"
        )


def downgrade() -> None:
    pass

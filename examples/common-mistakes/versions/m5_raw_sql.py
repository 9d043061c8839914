"""raw SQL the AST-based linters cannot see"""
from alembic import op

revision = "m5"
down_revision = "m4"


def upgrade():
    op.execute("ALTER TABLE users ALTER COLUMN age TYPE bigint")
    op.execute("ALTER TABLE users ALTER COLUMN email SET NOT NULL")
    op.execute("UPDATE users SET email = lower(email)")
    op.execute("DO $$ BEGIN PERFORM pg_sleep(0); END $$")

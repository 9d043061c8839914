"""Alembic env.py wired to expandcontract's contract gate.

`ec lint` needs nothing from this file (it renders revisions offline). `alembic upgrade` goes
through `ec.run_migrations`, which refuses to apply a contract revision while a color that
still needs the old schema is not retired.
"""

import os

from alembic import context
from sqlalchemy import create_engine, pool

from expandcontract import alembic as ec

config = context.config
# Used as given, never through config.set_main_option(): that applies ini interpolation, so a
# URL-encoded password ("p%40ss") would fail, and the error would print the URL.
url = (
    context.get_x_argument(as_dictionary=True).get("url")
    or os.environ.get("EC_DATABASE_URL")
    or config.get_main_option("sqlalchemy.url")
)


def run_migrations_offline() -> None:
    context.configure(url=url, literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        # One transaction per revision (autocommit blocks then commit only their own
        # revision's work) and the per-revision gate check.
        context.configure(connection=connection, **ec.configure_kwargs())
        with context.begin_transaction():
            ec.run_migrations(context)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

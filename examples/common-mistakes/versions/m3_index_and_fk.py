"""orders index and foreign key"""
from alembic import op

revision = "m3"
down_revision = "m2"


def upgrade():
    op.create_index("ix_orders_user_id", "orders", ["user_id"])
    op.create_foreign_key("fk_orders_user", "orders", "users", ["user_id"], ["id"])
    op.create_index("ix_orders_created", "orders", ["created_at"], postgresql_concurrently=True)

"""Products and their parties (who may say what about which goods), official labs, and the
consignee of a shipment: the custody rules of issue 12.

Existing lots keep their events; no product is registered for them: after upgrading, the operator
registers each GTIN to its owner ('cradletrace product add'), or its lots take no new events.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import integer, string, ts

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product",
        string("gtin", 14),
        string("owner_id", 63),
        string("name", 200),
        ts("registered_at"),
        sa.ForeignKeyConstraint(["owner_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("gtin"),
    )
    op.create_index("ix_product_owner_id", "product", ["owner_id"])
    op.create_table(
        "product_party",
        integer("id"),
        string("gtin", 14),
        string("supplier_id", 63),
        string("role", 16),
        string("lot", 20, nullable=True),
        string("named_by", 100),
        ts("named_at"),
        string("withdrawn_by", 100, nullable=True),
        ts("withdrawn_at", nullable=True),
        sa.ForeignKeyConstraint(["gtin"], ["product.gtin"]),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_product_party_gtin", "product_party", ["gtin"])
    op.create_index("ix_product_party_supplier_id", "product_party", ["supplier_id"])
    # Plain ALTER TABLE (SQLite >= 3.35 too): a batch copy of supplier would break the keys that point at it.
    op.add_column("supplier", sa.Column("official_lab", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("shipment", string("consignee", 63, nullable=True))


def downgrade() -> None:
    op.drop_column("shipment", "consignee")
    op.drop_column("supplier", "official_lab")
    op.drop_table("product_party")
    op.drop_table("product")

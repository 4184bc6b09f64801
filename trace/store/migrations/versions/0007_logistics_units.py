"""Logistics units, where they were received and what was sold (issue 16): ``unit`` (what is in
what now, who holds it, its last receiving place), ``unit_event`` (which events name a unit),
``sale`` (units sold, by lot, with the buyer's pseudonym) and ``buyer_contact`` (a member's sealed
contact for recall notices). New tables only: nothing older changes, and events recorded before keep
their canonical bytes (a site's ``gln`` is an optional field of the event, not a column).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import integer, string, ts

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit",
        string("code", 41),
        string("kind", 8),
        integer("lot_id", nullable=True),
        string("parent", 41, nullable=True),
        integer("packed_event_id", nullable=True),
        string("holder", 63),
        string("consignee", 63, nullable=True),
        string("gln", 13, nullable=True),
        string("gln_extension", 20, nullable=True),
        ts("received_at", nullable=True),
        integer("received_event_id", nullable=True),
        integer("sold_event_id", nullable=True),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.ForeignKeyConstraint(["packed_event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["received_event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["sold_event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_unit_lot_id", "unit", ["lot_id"])
    op.create_index("ix_unit_parent", "unit", ["parent"])
    op.create_table(
        "unit_event",
        string("code", 41),
        integer("event_id"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("code", "event_id"),
    )
    op.create_index("ix_unit_event_event_id", "unit_event", ["event_id"])
    op.create_table(
        "sale",
        integer("event_id"),
        string("code", 41),
        integer("lot_id", nullable=True),
        string("order_ref", 80),
        string("buyer", 64),
        ts("sold_at"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.PrimaryKeyConstraint("event_id", "code"),
    )
    op.create_index("ix_sale_code", "sale", ["code"])
    op.create_index("ix_sale_lot_id", "sale", ["lot_id"])
    op.create_index("ix_sale_buyer", "sale", ["buyer"])
    op.create_table(
        "buyer_contact",
        string("buyer", 64),
        string("supplier_id", 63),
        sa.Column("contact", sa.LargeBinary(), nullable=False),
        ts("consented_at"),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("buyer"),
    )
    op.create_index("ix_buyer_contact_supplier_id", "buyer_contact", ["supplier_id"])


def downgrade() -> None:
    op.drop_table("buyer_contact")
    op.drop_table("sale")
    op.drop_table("unit_event")
    op.drop_table("unit")

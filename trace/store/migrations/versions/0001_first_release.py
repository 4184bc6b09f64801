"""The first released schema (commit 8b47765): suppliers, keys, events, anchors, lots, items, scans.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import bigint, integer, string, text, ts

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("meta", string("key", 64), text("value"), sa.PrimaryKeyConstraint("key"))
    op.create_table(
        "supplier",
        string("id", 63),
        string("name", 200),
        string("role", 16),
        ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "anchor_batch",
        integer("id"),
        string("root", 64),
        integer("leaf_count"),
        string("status", 16),
        string("contract", 42),
        bigint("chain_id"),
        string("tx_hash", 66, nullable=True),
        bigint("block_number", nullable=True),
        ts("block_time", nullable=True),
        ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("root"),
    )
    op.create_index("ix_anchor_batch_status", "anchor_batch", ["status"])
    op.create_table(
        "certification",
        integer("id"),
        string("supplier_id", 63),
        string("scheme", 100),
        string("number", 100),
        string("issuer", 200),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_certification_supplier_id", "certification", ["supplier_id"])
    op.create_table(
        "supplier_key",
        string("key_id", 16),
        string("supplier_id", 63),
        string("public_key", 64),
        ts("created_at"),
        ts("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_supplier_key_supplier_id", "supplier_key", ["supplier_id"])
    op.create_table(
        "api_key",
        string("id", 16),
        string("name", 100),
        string("role", 16),
        string("supplier_id", 63, nullable=True),
        string("hash", 64),
        ts("created_at"),
        ts("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_key_supplier_id", "api_key", ["supplier_id"])
    op.create_table(
        "event",
        integer("id"),
        string("digest", 64),
        string("kind", 16),
        string("supplier_id", 63),
        string("key_id", 16),
        text("body"),
        string("signature", 100),
        ts("recorded_at"),
        string("gtin", 14, nullable=True),
        string("lot", 20, nullable=True),
        string("ref", 80, nullable=True),
        string("outcome", 16, nullable=True),
        integer("anchor_id", nullable=True),
        text("proof", nullable=True),
        sa.ForeignKeyConstraint(["anchor_id"], ["anchor_batch.id"]),
        sa.ForeignKeyConstraint(["key_id"], ["supplier_key.key_id"]),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_index("ix_event_gtin_lot", "event", ["gtin", "lot"])
    op.create_index("ix_event_pending", "event", ["anchor_id"])
    op.create_index("ix_event_ref", "event", ["ref"])
    op.create_index("ix_event_supplier_id", "event", ["supplier_id"])
    op.create_table(
        "lot",
        integer("id"),
        string("gtin", 14),
        string("lot", 20),
        string("product", 200),
        string("supplier_id", 63),
        integer("event_id"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gtin", "lot"),
    )
    op.create_index("ix_lot_supplier_id", "lot", ["supplier_id"])
    op.create_table(
        "lot_input",
        integer("lot_id"),
        integer("input_lot_id"),
        sa.ForeignKeyConstraint(["input_lot_id"], ["lot.id"]),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.PrimaryKeyConstraint("lot_id", "input_lot_id"),
    )
    op.create_index("ix_lot_input_input_lot_id", "lot_input", ["input_lot_id"])
    op.create_table(
        "shipment",
        string("id", 80),
        integer("lot_id"),
        integer("event_id"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shipment_lot_id", "shipment", ["lot_id"])
    op.create_table(
        "item",
        string("serial", 20),
        string("gtin", 14),
        integer("lot_id"),
        integer("event_id"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.PrimaryKeyConstraint("serial"),
    )
    op.create_index("ix_item_gtin_serial", "item", ["gtin", "serial"])
    op.create_index("ix_item_lot_id", "item", ["lot_id"])
    op.create_table(
        "scan",
        string("id", 32),
        string("serial", 20),
        ts("scanned_at"),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("location", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["serial"], ["item.serial"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scan_serial", "scan", ["serial"])


def downgrade() -> None:
    for table in (
        "scan",
        "item",
        "shipment",
        "lot_input",
        "lot",
        "event",
        "api_key",
        "supplier_key",
        "certification",
        "anchor_batch",
        "supplier",
        "meta",
    ):
        op.drop_table(table)

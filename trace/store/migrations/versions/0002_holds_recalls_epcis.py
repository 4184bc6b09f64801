"""Holds and recalls (with who released a hold and why, who closed a recall and why) and the
``epcis_event`` side table: everything the second release reads that the first had not.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import bigint, integer, string, text, ts

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign key on trigger_event_id: a hold must outlive tampering with the event rows.
    op.create_table(
        "hold",
        integer("id"),
        integer("lot_id"),
        string("reason", 200),
        integer("trigger_event_id"),
        ts("created_at"),
        ts("released_at", nullable=True),
        string("released_by", 100, nullable=True),
        string("release_reason", 500, nullable=True),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hold_lot_id", "hold", ["lot_id"])
    op.create_index("ix_hold_trigger_event_id", "hold", ["trigger_event_id"])
    op.create_table(
        "recall",
        integer("id"),
        text("reason"),
        string("severity", 3),
        integer("trigger_event_id", nullable=True),
        string("trigger_text", 200, nullable=True),
        string("started_by", 100),
        ts("started_at"),
        ts("trigger_at", nullable=True),
        ts("located_at", nullable=True),
        ts("closed_at", nullable=True),
        string("closed_by", 100, nullable=True),
        string("close_reason", 500, nullable=True),
        text("notice"),
        string("notice_digest", 64),
        string("lot_ref", 64),
        string("notice_status", 16),
        string("tx_hash", 66, nullable=True),
        bigint("block_number", nullable=True),
        ts("block_time", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_digest"),
    )
    op.create_index("ix_recall_notice_status", "recall", ["notice_status"])
    op.create_table(
        "recall_lot",
        integer("recall_id"),
        integer("lot_id"),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.ForeignKeyConstraint(["recall_id"], ["recall.id"]),
        sa.PrimaryKeyConstraint("recall_id", "lot_id"),
    )
    op.create_index("ix_recall_lot_lot_id", "recall_lot", ["lot_id"])
    op.create_table(
        "epcis_event",
        string("hash", 100),
        integer("event_id"),
        text("epcis_id", nullable=True),
        text("body"),
        text("context"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("hash"),
        sa.UniqueConstraint("event_id"),
    )


def downgrade() -> None:
    for table in ("epcis_event", "recall_lot", "recall", "hold"):
        op.drop_table(table)

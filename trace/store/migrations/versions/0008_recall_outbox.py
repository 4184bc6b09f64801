"""Recall notices to consignee sites (issue 17): partner contacts (sealed addresses, webhook and
its sealed secret), each site's acknowledgement and its lines per lot, the outbox of notices and
the log of every delivery try. Nothing older changes.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import integer, string, text, ts

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_contact",
        string("supplier_id", 63),
        sa.Column("emails", sa.LargeBinary(), nullable=True),
        text("webhook_url", nullable=True),
        sa.Column("webhook_secret", sa.LargeBinary(), nullable=True),
        ts("updated_at"),
        string("updated_by", 100),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("supplier_id"),
    )
    op.create_table(
        "recall_ack",
        integer("id"),
        integer("recall_id"),
        string("site", 63),
        string("salt", 32),
        string("token_hash", 64, nullable=True),
        ts("created_at"),
        ts("answered_at", nullable=True),
        string("answered_by", 100, nullable=True),
        sa.Column("received", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["recall_id"], ["recall.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_recall_ack_recall_id", "recall_ack", ["recall_id"])
    op.create_index("ix_recall_ack_site", "recall_ack", ["site"])
    op.create_table(
        "recall_ack_line",
        integer("ack_id"),
        integer("lot_id"),
        sa.Column("shipped", sa.Float(), nullable=False),
        string("unit", 40),
        sa.Column("on_hand", sa.Float(), nullable=True),
        sa.Column("returned", sa.Float(), nullable=True),
        sa.Column("destroyed", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["ack_id"], ["recall_ack.id"]),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.PrimaryKeyConstraint("ack_id", "lot_id"),
    )
    op.create_index("ix_recall_ack_line_lot_id", "recall_ack_line", ["lot_id"])
    op.create_table(
        "recall_outbox",
        integer("id"),
        integer("recall_id"),
        integer("ack_id"),
        string("channel", 16),
        string("status", 16),
        integer("attempts"),
        ts("created_at"),
        ts("next_attempt_at", nullable=True),
        ts("lease_until", nullable=True),
        ts("sent_at", nullable=True),
        string("last_error", 500, nullable=True),
        sa.ForeignKeyConstraint(["recall_id"], ["recall.id"]),
        sa.ForeignKeyConstraint(["ack_id"], ["recall_ack.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ack_id", "channel"),
    )
    op.create_index("ix_recall_outbox_recall_id", "recall_outbox", ["recall_id"])
    op.create_index("ix_recall_outbox_due", "recall_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "recall_outbox_attempt",
        integer("id"),
        integer("notice_id"),
        ts("at"),
        string("status", 16),
        integer("code", nullable=True),
        string("error", 500, nullable=True),
        integer("ms"),
        sa.ForeignKeyConstraint(["notice_id"], ["recall_outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recall_outbox_attempt_notice_id", "recall_outbox_attempt", ["notice_id"])


def downgrade() -> None:
    for table in ("recall_outbox_attempt", "recall_outbox", "recall_ack_line", "recall_ack", "partner_contact"):
        op.drop_table(table)

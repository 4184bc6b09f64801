"""Recall notices to people (issue 17): "tell me if this can is recalled" subscriptions (sealed
address, keyed-hash lookup, double opt-in), the outbox of e-mails to buyers and subscribers with
its delivery log. Nothing older changes.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import integer, string, ts

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_subscription",
        integer("id"),
        integer("lot_id"),
        string("address_key", 32),
        sa.Column("address", sa.LargeBinary(), nullable=True),
        string("lang", 2),
        string("salt", 32),
        string("confirm_hash", 64),
        string("stop_hash", 64),
        ts("created_at"),
        ts("confirmed_at", nullable=True),
        ts("unsubscribed_at", nullable=True),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lot_id", "address_key"),
        sa.UniqueConstraint("confirm_hash"),
        sa.UniqueConstraint("stop_hash"),
    )
    op.create_index("ix_consumer_subscription_lot_id", "consumer_subscription", ["lot_id"])
    op.create_index("ix_consumer_subscription_address_key", "consumer_subscription", ["address_key"])
    op.create_table(
        "person_outbox",
        integer("id"),
        string("kind", 16),
        integer("recall_id", nullable=True),
        integer("subscription_id", nullable=True),
        string("buyer", 64, nullable=True),
        string("salt", 32),
        string("read_hash", 64, nullable=True),
        string("stop_hash", 64, nullable=True),
        string("status", 16),
        integer("attempts"),
        ts("created_at"),
        ts("next_attempt_at", nullable=True),
        ts("lease_until", nullable=True),
        ts("sent_at", nullable=True),
        ts("opened_at", nullable=True),
        string("last_error", 500, nullable=True),
        sa.ForeignKeyConstraint(["recall_id"], ["recall.id"]),
        sa.ForeignKeyConstraint(["subscription_id"], ["consumer_subscription.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recall_id", "buyer"),
        sa.UniqueConstraint("recall_id", "subscription_id"),
        sa.UniqueConstraint("read_hash"),
        sa.UniqueConstraint("stop_hash"),
    )
    op.create_index("ix_person_outbox_recall_id", "person_outbox", ["recall_id"])
    op.create_index("ix_person_outbox_subscription_id", "person_outbox", ["subscription_id"])
    op.create_index("ix_person_outbox_buyer", "person_outbox", ["buyer"])
    op.create_index("ix_person_outbox_due", "person_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "person_outbox_attempt",
        integer("id"),
        integer("notice_id"),
        ts("at"),
        string("status", 16),
        integer("code", nullable=True),
        string("error", 500, nullable=True),
        integer("ms"),
        sa.ForeignKeyConstraint(["notice_id"], ["person_outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_person_outbox_attempt_notice_id", "person_outbox_attempt", ["notice_id"])


def downgrade() -> None:
    for table in ("person_outbox_attempt", "person_outbox", "consumer_subscription"):
        op.drop_table(table)

"""EPCIS named queries and subscriptions (issue 18): the named queries, the webhook subscriptions
to them, which events each subscription delivered, and the subscription outbox with its delivery
log. Nothing older changes.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import integer, string, text, ts

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "epcis_named_query",
        integer("id"),
        string("name", 200),
        text("params"),
        string("owner_role", 16),
        string("owner_supplier", 63, nullable=True),
        string("created_by", 64),
        ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "epcis_subscription",
        integer("id"),
        string("uid", 64),
        integer("query_id"),
        string("dest", 500),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        string("viewer", 63, nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        text("schedule", nullable=True),
        sa.Column("report_if_empty", sa.Boolean(), nullable=False),
        ts("initial_record_time"),
        string("created_by", 64),
        ts("created_at"),
        ts("next_run_at", nullable=True),
        ts("last_notified_at", nullable=True),
        ts("watermark", nullable=True),
        sa.ForeignKeyConstraint(["query_id"], ["epcis_named_query.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
    )
    op.create_index("ix_epcis_subscription_query_id", "epcis_subscription", ["query_id"])
    op.create_table(
        "epcis_outbox",
        integer("id"),
        string("uid", 64),
        integer("subscription_id"),
        integer("events"),
        text("body"),
        string("status", 16),
        integer("attempts"),
        ts("created_at"),
        ts("next_attempt_at", nullable=True),
        ts("lease_until", nullable=True),
        ts("sent_at", nullable=True),
        string("last_error", 500, nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["epcis_subscription.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
    )
    op.create_index("ix_epcis_outbox_subscription_id", "epcis_outbox", ["subscription_id"])
    op.create_index("ix_epcis_outbox_due", "epcis_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "epcis_outbox_attempt",
        integer("id"),
        integer("delivery_id"),
        ts("at"),
        string("status", 16),
        integer("code", nullable=True),
        string("error", 500, nullable=True),
        integer("ms"),
        sa.ForeignKeyConstraint(["delivery_id"], ["epcis_outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_epcis_outbox_attempt_delivery_id", "epcis_outbox_attempt", ["delivery_id"])
    op.create_table(
        "epcis_subscription_event",
        integer("subscription_id"),
        integer("event_id"),
        integer("delivery_id"),
        sa.ForeignKeyConstraint(["subscription_id"], ["epcis_subscription.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["epcis_outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscription_id", "event_id"),
    )
    op.create_index("ix_epcis_subscription_event_delivery_id", "epcis_subscription_event", ["delivery_id"])


def downgrade() -> None:
    for table in ("epcis_subscription_event", "epcis_outbox_attempt", "epcis_outbox", "epcis_subscription"):
        op.drop_table(table)
    op.drop_table("epcis_named_query")

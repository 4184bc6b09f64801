"""The EPCIS query index (issue 18): one row per stored event in its EPCIS 2.0 form, and the
identifiers each names. A store made before this revision is indexed here (backfill), so the
query routes see every event from the first request on. Nothing older changes.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import integer, string, text, ts

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "epcis_index",
        integer("event_id"),
        text("eid"),
        string("hash", 100),
        string("type", 64),
        ts("event_time"),
        ts("record_time"),
        text("biz_step", nullable=True),
        text("disposition", nullable=True),
        text("read_point", nullable=True),
        text("biz_location", nullable=True),
        string("supplier_id", 63),
        ts("error_time", nullable=True),
        text("error_reason", nullable=True),
        text("body"),
        text("context", nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_epcis_index_page", "epcis_index", ["record_time", "event_id"])
    op.create_index("ix_epcis_index_event_time", "epcis_index", ["event_time"])
    for column in ("eid", "type", "biz_step", "disposition", "read_point", "biz_location", "supplier_id"):
        op.create_index(f"ix_epcis_index_{column}", "epcis_index", [column])
    op.create_table(
        "epcis_index_value",
        integer("event_id"),
        string("role", 16),
        string("value", 400),
        sa.ForeignKeyConstraint(["event_id"], ["epcis_index.event_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "role", "value"),
    )
    op.create_index("ix_epcis_index_value_value", "epcis_index_value", ["value", "role", "event_id"])
    from cradletrace.epcis.index import backfill

    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("epcis_index_value")
    op.drop_table("epcis_index")

"""The EPCIS REST binding's capture jobs (issue 18): each request body as received, with the HTTP
message signature that covered it, and the job's state. Nothing older changes.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import integer, string, text, ts

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "epcis_capture",
        sa.Column("id", sa.Integer(), nullable=False),
        string("supplier_id", 63),
        string("key_id", 16, nullable=True),
        string("media_type", 100),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        text("signature", nullable=True),
        string("state", 16),
        integer("attempts"),
        text("errors", nullable=True),
        integer("event_count", nullable=True),
        ts("created_at"),
        ts("started_at", nullable=True),
        ts("finished_at", nullable=True),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.ForeignKeyConstraint(["key_id"], ["supplier_key.key_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_epcis_capture_state", "epcis_capture", ["state", "id"])
    op.create_index("ix_epcis_capture_supplier_id", "epcis_capture", ["supplier_id"])


def downgrade() -> None:
    op.drop_table("epcis_capture")

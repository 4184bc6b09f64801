"""The supplier portal's sessions (``portal_session``): a signed-in supplier's session, kept as the
SHA-256 of its random id with the API key it was opened with (issue 15). Nothing older changes.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import string, ts

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_session",
        string("id_hash", 64),
        string("api_key_id", 16),
        string("supplier_id", 63),
        ts("created_at"),
        ts("last_seen_at"),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_key.id"]),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_portal_session_api_key_id", "portal_session", ["api_key_id"])
    op.create_index("ix_portal_session_supplier_id", "portal_session", ["supplier_id"])


def downgrade() -> None:
    op.drop_table("portal_session")

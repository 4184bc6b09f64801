"""The scanning client's pseudonym on each scan (``scan.client``: a keyed hash, never the address),
so that the copy rule counts phones, not requests. Scans made before it have none.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from cradletrace.store.migrations.columns import string

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scan", string("client", 32, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan") as batch:
        batch.drop_column("client")

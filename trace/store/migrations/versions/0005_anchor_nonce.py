"""Each anchor batch keeps its transactions' nonce and every transaction hash signed for it
(``anchor_batch.nonce``, ``anchor_batch.tx_hashes``), so a run that finds the newest hash unknown
to the node re-sends at that nonce instead of opening a new one beside a pending attempt.
Batches made before it have neither; they are sent as before.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from cradletrace.store.migrations.columns import bigint, text

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("anchor_batch", bigint("nonce", nullable=True))
    op.add_column("anchor_batch", text("tx_hashes", nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite >= 3.35 has DROP COLUMN): a batch rebuild would drop anchor_batch,
    # which event.anchor_id refers to.
    op.drop_column("anchor_batch", "tx_hashes")
    op.drop_column("anchor_batch", "nonce")

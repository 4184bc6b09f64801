"""Mock recalls, effectiveness checks and regulatory milestones (issue 17): a recall may be a
drill, names the regimes whose deadlines apply and China's recall level, and its effectiveness
check level; ``recall_check`` holds the consignees drawn for checking and what staff found;
``recall_milestone`` the regulatory steps staff record as done. Nothing older changes.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cradletrace.store.migrations.columns import integer, string, ts

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("recall", sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("recall", string("regimes", 40, nullable=True))
    op.add_column("recall", integer("cn_level", nullable=True))
    op.add_column("recall", string("check_level", 1, nullable=True))
    op.add_column("recall", sa.Column("check_percent", sa.Float(), nullable=True))
    op.add_column("recall", string("check_seed", 64, nullable=True))
    op.add_column("recall", ts("checks_planned_at", nullable=True))
    op.create_table(
        "recall_check",
        integer("id"),
        integer("recall_id"),
        string("site", 63),
        ts("picked_at"),
        ts("checked_at", nullable=True),
        string("checked_by", 100, nullable=True),
        sa.Column("reached", sa.Boolean(), nullable=True),
        sa.Column("notice_received", sa.Boolean(), nullable=True),
        sa.Column("handled", sa.Boolean(), nullable=True),
        string("note", 500, nullable=True),
        sa.ForeignKeyConstraint(["recall_id"], ["recall.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recall_id", "site"),
    )
    op.create_index("ix_recall_check_recall_id", "recall_check", ["recall_id"])
    op.create_table(
        "recall_milestone",
        integer("id"),
        integer("recall_id"),
        string("name", 40),
        ts("at"),
        ts("recorded_at"),
        string("recorded_by", 100),
        string("note", 500, nullable=True),
        sa.ForeignKeyConstraint(["recall_id"], ["recall.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recall_milestone_recall_id", "recall_milestone", ["recall_id"])


def downgrade() -> None:
    op.drop_table("recall_milestone")
    op.drop_table("recall_check")
    for name in ("checks_planned_at", "check_seed", "check_percent", "check_level", "cn_level", "regimes", "drill"):
        op.drop_column("recall", name)

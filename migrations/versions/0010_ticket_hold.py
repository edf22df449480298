"""tickets.held_since / held_until / hold_reason: 挂起 (a ticket waiting on a third party, issue 18); escalation
levels gain the A/B partner's step (level 2), so a stored level of 2 or more moves up by one

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridbot.models.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("held_since", gridbot.models.base.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("held_until", gridbot.models.base.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("hold_reason", sa.String(length=200), nullable=True))
    op.execute("UPDATE tickets SET escalation_level = escalation_level + 1 WHERE escalation_level >= 2")


def downgrade() -> None:
    op.execute("UPDATE tickets SET escalation_level = escalation_level - 1 WHERE escalation_level >= 3")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("hold_reason")
        batch.drop_column("held_until")
        batch.drop_column("held_since")

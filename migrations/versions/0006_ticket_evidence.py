"""ticket_evidence: pictures sent to the AI bot, downloaded, decrypted and kept as a ticket's evidence

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridbot.models.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("mime", sa.String(length=32), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("added_by", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_messages.id"],
                                name=op.f("fk_ticket_evidence_inbound_id_inbound_messages")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE",
                                name=op.f("fk_ticket_evidence_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_evidence")),
        sa.UniqueConstraint("inbound_id", "position", name=op.f("uq_ticket_evidence_inbound_id_position")),
    )
    op.create_index(op.f("ix_ticket_evidence_ticket_id"), "ticket_evidence", ["ticket_id"], unique=False)
    op.create_index(op.f("ix_ticket_evidence_created_at"), "ticket_evidence", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ticket_evidence_created_at"), table_name="ticket_evidence")
    op.drop_index(op.f("ix_ticket_evidence_ticket_id"), table_name="ticket_evidence")
    op.drop_table("ticket_evidence")

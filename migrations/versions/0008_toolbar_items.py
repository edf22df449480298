"""toolbar_items: replies for a customer group, ready for a member to post from the chat toolbar

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridbot.models.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "toolbar_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("for_member", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("posted_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("posted_by", sa.String(length=128), nullable=True),
        sa.Column("how", sa.String(length=16), nullable=True),
        sa.Column("seen_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], ondelete="CASCADE",
                                name=op.f("fk_toolbar_items_grid_id_grids")),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_messages.id"],
                                name=op.f("fk_toolbar_items_inbound_id_inbound_messages")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE",
                                name=op.f("fk_toolbar_items_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_toolbar_items")),
    )
    op.create_index(op.f("ix_toolbar_items_chat_id"), "toolbar_items", ["chat_id"], unique=False)
    op.create_index(op.f("ix_toolbar_items_grid_id"), "toolbar_items", ["grid_id"], unique=False)
    op.create_index(op.f("ix_toolbar_items_status"), "toolbar_items", ["status"], unique=False)
    op.create_index(op.f("ix_toolbar_items_ticket_id"), "toolbar_items", ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_toolbar_items_ticket_id"), table_name="toolbar_items")
    op.drop_index(op.f("ix_toolbar_items_status"), table_name="toolbar_items")
    op.drop_index(op.f("ix_toolbar_items_grid_id"), table_name="toolbar_items")
    op.drop_index(op.f("ix_toolbar_items_chat_id"), table_name="toolbar_items")
    op.drop_table("toolbar_items")

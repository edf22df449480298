"""chats: kind (what a chat is decides the channel: issue 15 point 4) and mem_ver (the last CurMemVer applied)

Existing rows get a kind from what is known: a robot key -> robot_group; a chat the AI bot delivered group messages
from -> aibot_group (the AI bot is never in a customer group); else "unknown" (`gridbot chat set-kind` sets it).

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grid_chats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=32), server_default="unknown", nullable=False))
        batch_op.add_column(sa.Column("mem_ver", sa.String(length=64), nullable=True))
    with op.batch_alter_table("unknown_chats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=32), server_default="unknown", nullable=False))
    op.execute("UPDATE grid_chats SET kind = 'robot_group' WHERE robot_key IS NOT NULL AND robot_key <> ''")
    op.execute("UPDATE grid_chats SET kind = 'aibot_group' WHERE kind = 'unknown' AND chat_id IN "
               "(SELECT chat_id FROM inbound_messages WHERE platform = 'wecom_aibot' AND chat_id IS NOT NULL)")
    op.execute("UPDATE unknown_chats SET kind = 'aibot_group' WHERE platform = 'wecom_aibot'")


def downgrade() -> None:
    with op.batch_alter_table("unknown_chats", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("grid_chats", schema=None) as batch_op:
        batch_op.drop_column("mem_ver")
        batch_op.drop_column("kind")

"""channel faults: a sending channel stopped by a configuration fault (one alarm, rows held, not dead); the outbox
row remembers the channel it is held for

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridbot.models.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_faults',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('errcode', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('first_seen', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('probe_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cleared_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_faults')),
    sa.UniqueConstraint('channel', name=op.f('uq_channel_faults_channel'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_channel'), ['channel'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_channel'))
        batch_op.drop_column('channel')
    op.drop_table('channel_faults')

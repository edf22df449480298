"""work: patrols, household visits, work logs, leaves

Revision ID: work_0001
Revises: 0001
Create Date: 2026-11-29 08:29:49.441673
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridbot.models.base

revision = 'work_0001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leaves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('created_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_leaves_member_id_members')),
    sa.ForeignKeyConstraint(['partner_id'], ['members.id'], name=op.f('fk_leaves_partner_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leaves'))
    )
    with op.batch_alter_table('leaves', schema=None) as batch_op:
        batch_op.create_index('ix_leaves_member_ends', ['member_id', 'ends_at'], unique=False)

    op.create_table('patrols',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('started_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('place', sa.String(length=255), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('end_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_patrols_grid_id_grids')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_patrols_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patrols'))
    )
    with op.batch_alter_table('patrols', schema=None) as batch_op:
        batch_op.create_index('ix_patrols_grid_started', ['grid_id', 'started_at'], unique=False)
        batch_op.create_index('ix_patrols_member_started', ['member_id', 'started_at'], unique=False)

    op.create_table('work_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reviewed_by', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_work_logs_member_id_members')),
    sa.ForeignKeyConstraint(['reviewed_by'], ['members.id'], name=op.f('fk_work_logs_reviewed_by_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_logs'))
    )
    with op.batch_alter_table('work_logs', schema=None) as batch_op:
        batch_op.create_index('ix_work_logs_member_day', ['member_id', 'day'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('follow_up', sa.Text(), nullable=True),
    sa.Column('invited_to_group', sa.Boolean(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_visits_grid_id_grids')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_visits_household_id_households')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_visits_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('ix_visits_grid_at', ['grid_id', 'at'], unique=False)
        batch_op.create_index('ix_visits_household_at', ['household_id', 'at'], unique=False)
        batch_op.create_index('ix_visits_member_at', ['member_id', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_member_at')
        batch_op.drop_index('ix_visits_household_at')
        batch_op.drop_index('ix_visits_grid_at')

    op.drop_table('visits')
    with op.batch_alter_table('work_logs', schema=None) as batch_op:
        batch_op.drop_index('ix_work_logs_member_day')

    op.drop_table('work_logs')
    with op.batch_alter_table('patrols', schema=None) as batch_op:
        batch_op.drop_index('ix_patrols_member_started')
        batch_op.drop_index('ix_patrols_grid_started')

    op.drop_table('patrols')
    with op.batch_alter_table('leaves', schema=None) as batch_op:
        batch_op.drop_index('ix_leaves_member_ends')

    op.drop_table('leaves')

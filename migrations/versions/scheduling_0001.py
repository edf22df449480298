"""scheduling: reminders, announcements, scheduler job state, occurrences (unique idempotency keys)

Revision ID: scheduling_0001
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridbot.models.base

revision = "scheduling_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('occurrences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('due_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fired_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outbox_ids', sa.JSON(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_occurrences')),
    sa.UniqueConstraint('key', name=op.f('uq_occurrences_key'))
    )
    with op.batch_alter_table('occurrences', schema=None) as batch_op:
        batch_op.create_index('ix_occurrences_source', ['source', 'source_id'], unique=False)

    op.create_table('scheduler_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('next_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_due_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduler_jobs')),
    sa.UniqueConstraint('name', name=op.f('uq_scheduler_jobs_name'))
    )
    op.create_table('announcements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('author_member_id', sa.Integer(), nullable=True),
    sa.Column('author_userid', sa.String(length=128), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('grid_ids', sa.JSON(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('mention_all', sa.Boolean(), nullable=False),
    sa.Column('send_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('deliveries', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=160), nullable=False),
    sa.Column('created_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['author_member_id'], ['members.id'], name=op.f('fk_announcements_author_member_id_members')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_announcements_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcements'))
    )
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_announcements_author_member_id'), ['author_member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_announcements_community_id'), ['community_id'], unique=False)
        batch_op.create_index('ix_announcements_status_send_at', ['status', 'send_at'], unique=False)

    op.create_table('reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source_key', sa.String(length=128), nullable=True),
    sa.Column('owner_member_id', sa.Integer(), nullable=True),
    sa.Column('target_type', sa.String(length=16), nullable=False),
    sa.Column('target_member_id', sa.Integer(), nullable=True),
    sa.Column('grid_ids', sa.JSON(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('schedule_text', sa.String(length=255), nullable=False),
    sa.Column('rrule', sa.String(length=512), nullable=True),
    sa.Column('dtstart', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('late_policy', sa.String(length=16), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=160), nullable=False),
    sa.Column('created_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_by', sa.String(length=160), nullable=True),
    sa.Column('cancelled_at', gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_reminders_community_id_communities')),
    sa.ForeignKeyConstraint(['owner_member_id'], ['members.id'], name=op.f('fk_reminders_owner_member_id_members')),
    sa.ForeignKeyConstraint(['target_member_id'], ['members.id'], name=op.f('fk_reminders_target_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminders')),
    sa.UniqueConstraint('source_key', name=op.f('uq_reminders_source_key'))
    )
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.create_index('ix_reminders_active_next', ['active', 'next_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reminders_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reminders_owner_member_id'), ['owner_member_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminders_owner_member_id'))
        batch_op.drop_index(batch_op.f('ix_reminders_community_id'))
        batch_op.drop_index('ix_reminders_active_next')

    op.drop_table('reminders')
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_index('ix_announcements_status_send_at')
        batch_op.drop_index(batch_op.f('ix_announcements_community_id'))
        batch_op.drop_index(batch_op.f('ix_announcements_author_member_id'))

    op.drop_table('announcements')
    op.drop_table('scheduler_jobs')
    with op.batch_alter_table('occurrences', schema=None) as batch_op:
        batch_op.drop_index('ix_occurrences_source')

    op.drop_table('occurrences')

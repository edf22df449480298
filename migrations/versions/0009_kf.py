"""kf_cursors, kf_sessions and kf_links: 微信客服 (issue 17), the sync cursor per kf account and each resident's session

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridbot.models.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kf_cursors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("open_kfid", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=255), nullable=True),
        sa.Column("synced_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kf_cursors")),
        sa.UniqueConstraint("open_kfid", name=op.f("uq_kf_cursors_open_kfid")),
    )
    op.create_table(
        "kf_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("open_kfid", sa.String(length=64), nullable=False),
        sa.Column("external_userid", sa.String(length=128), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("scene", sa.String(length=64), nullable=True),
        sa.Column("last_customer_msg_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sends_since_customer_msg", sa.Integer(), nullable=False),
        sa.Column("service_state", sa.Integer(), nullable=False),
        sa.Column("servicer", sa.String(length=128), nullable=True),
        sa.Column("welcome_code", sa.Text(), nullable=True),
        sa.Column("welcome_code_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name=op.f("fk_kf_sessions_grid_id_grids")),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"],
                                name=op.f("fk_kf_sessions_household_id_households")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kf_sessions")),
        sa.UniqueConstraint("open_kfid", "external_userid", name=op.f("uq_kf_sessions_open_kfid_external_userid")),
    )
    op.create_index(op.f("ix_kf_sessions_external_userid"), "kf_sessions", ["external_userid"], unique=False)
    op.create_index(op.f("ix_kf_sessions_grid_id"), "kf_sessions", ["grid_id"], unique=False)
    op.create_table(
        "kf_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("open_kfid", sa.String(length=64), nullable=False),
        sa.Column("scene", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], ondelete="CASCADE", name=op.f("fk_kf_links_grid_id_grids")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kf_links")),
        sa.UniqueConstraint("grid_id", name=op.f("uq_kf_links_grid_id")),
    )


def downgrade() -> None:
    op.drop_table("kf_links")
    op.drop_index(op.f("ix_kf_sessions_grid_id"), table_name="kf_sessions")
    op.drop_index(op.f("ix_kf_sessions_external_userid"), table_name="kf_sessions")
    op.drop_table("kf_sessions")
    op.drop_table("kf_cursors")

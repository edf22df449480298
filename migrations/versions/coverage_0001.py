"""coverage: daily coverage snapshots per grid

Revision ID: coverage_0001
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridbot.models.base

revision = "coverage_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coverage_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("covered", sa.Integer(), nullable=False),
        sa.Column("ratio", sa.Float(), nullable=True),
        sa.Column("unbound_members", sa.Integer(), nullable=False),
        sa.Column("pending_overdue", sa.Integer(), nullable=False),
        sa.Column("gained", sa.Integer(), nullable=False),
        sa.Column("lost", sa.Integer(), nullable=False),
        sa.Column("covered_ids", sa.JSON(), nullable=False),
        sa.Column("movers", sa.JSON(), nullable=False),
        sa.Column("taken_at", gridbot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name=op.f("fk_coverage_snapshots_grid_id_grids"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverage_snapshots")),
        sa.UniqueConstraint("grid_id", "day", name=op.f("uq_coverage_snapshots_grid_id_day")),
    )
    with op.batch_alter_table("coverage_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coverage_snapshots_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_coverage_snapshots_grid_id"), ["grid_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("coverage_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coverage_snapshots_grid_id"))
        batch_op.drop_index(batch_op.f("ix_coverage_snapshots_day"))
    op.drop_table("coverage_snapshots")

"""Merge the per-area heads written in parallel (console, coverage, scheduling, work) into one history.

Revision ID: 0002
Revises: console_0001, coverage_0001, scheduling_0001, work_0001
"""
from __future__ import annotations

revision = "0002"
down_revision = ("console_0001", "coverage_0001", "scheduling_0001", "work_0001")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""Daily coverage snapshots (一户一代表): one row per grid per local day, so digests and the console can show a trend.

`covered_ids` keeps the covered household ids of that day, so the difference between two snapshots says which
households were gained or lost; `movers` counts who moved the figure that day (members confirming or binding,
representatives leaving the group).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class CoverageSnapshot(Base):
    __tablename__ = "coverage_snapshots"
    __table_args__ = (UniqueConstraint("grid_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)                # local day (settings.timezone)
    households: Mapped[int] = mapped_column(Integer, default=0)
    covered: Mapped[int] = mapped_column(Integer, default=0)
    ratio: Mapped[float | None] = mapped_column(Float)                 # None when the grid has no households
    unbound_members: Mapped[int] = mapped_column(Integer, default=0)
    pending_overdue: Mapped[int] = mapped_column(Integer, default=0)
    gained: Mapped[int] = mapped_column(Integer, default=0)            # vs the grid's previous snapshot
    lost: Mapped[int] = mapped_column(Integer, default=0)
    covered_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    movers: Mapped[dict[str, Any]] = mapped_column(default=dict)       # {"bound_by": {actor: n}, "left_group": n}
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)

"""Grids: the hierarchy, chat bindings, and per-grid counts."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased, selectinload

from ..models import Grid, Household


def grid_overview(session: Session, community_id: int | None = None,
                  grid_ids: Iterable[int] | None = None) -> list[dict]:
    """Every grid (of the community, of `grid_ids` when given) with code, name, level, parent code, bound chat ids
    and active household count. `gridbot grids list` and GET /api/v1/grids."""
    parent = aliased(Grid)
    counted = select(Household.grid_id, func.count()).where(Household.status == "active")
    query = (select(Grid, parent.code).outerjoin(parent, Grid.parent_id == parent.id)
             .options(selectinload(Grid.chats)).order_by(Grid.level, Grid.code))
    if community_id is not None:
        query = query.where(Grid.community_id == community_id)
    if grid_ids is not None:
        ids = list(grid_ids)
        query = query.where(Grid.id.in_(ids))
        counted = counted.where(Household.grid_id.in_(ids))
    counts = dict(session.execute(counted.group_by(Household.grid_id)).all())
    return [
        {"code": g.code, "name": g.name, "level": g.level, "parent": parent_code,
         "chat_ids": sorted(c.chat_id for c in g.chats), "households": counts.get(g.id, 0)}
        for g, parent_code in session.execute(query).all()
    ]

"""The web console (/console/): what the secretary, grid leaders and members see, in Chinese, desktop and phone.

Server-rendered Jinja2 pages. Every view says who may open it (auth.requires) and narrows every query to the
person's grids (Principal.scope_grid_ids, the same scope the chat uses). Changes go through the same service
functions the chat handlers call. Lists are paginated on the server and filter on indexed columns.
"""
from __future__ import annotations

from . import admin, community, dashboard, exports, kf, tickets
from .base import bp

PAGES = (admin, community, dashboard, exports, kf, tickets)   # each registers its views on bp when imported

__all__ = ["PAGES", "bp"]

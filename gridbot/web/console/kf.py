"""微信客服 links (issue 17 point 1): each grid's link and QR code for the secretary (and operator), and the
printable A4 sheet per grid. The links are made by `gridbot wecom kf-links` (kf/add_contact_way); this page shows them,
narrowed to the person's grids."""
from __future__ import annotations

import base64

from flask import Response
from sqlalchemy import select

from ...models import Grid
from ...services import kf_links
from ...services.scope import Scope
from .. import gridbot_app
from ..auth import requires, signed_in
from .base import bp, not_found, render


def _rows(grid_ids: set[int] | None) -> list[kf_links.LinkRow]:
    with gridbot_app().session() as s:
        return kf_links.grids_for_links(s, grid_ids)


@bp.get("/kf-links")
@requires("configure")
def kf_links_page():
    p = signed_in()
    scope = Scope.of(p)
    rows = _rows(None if p.is_operator else set(scope.grid_ids))
    qr = {r.code: "data:image/png;base64," + base64.b64encode(kf_links.qr_png(r.url, box=6)).decode()
          for r in rows if r.url}
    return render("kf_links.html", rows=rows, qr=qr)


@bp.get("/kf-links/<code>.png")
@requires("configure")
def kf_link_sheet(code: str) -> Response:
    """The grid's A4 sheet (PNG, 300 dpi) to print for notice boards."""
    p = signed_in()
    with gridbot_app().session() as s:
        grid_id = s.scalar(select(Grid.id).where(Grid.code == code))
    if grid_id is None or not Scope.of(p).has_grid(grid_id):
        return not_found()
    rows = [r for r in _rows({grid_id}) if r.url]
    if not rows:
        return not_found()
    try:
        png = kf_links.sheet_png(rows[0])
    except kf_links.FontMissing as err:
        return Response(str(err), status=503, mimetype="text/plain")
    return Response(png, mimetype="image/png",
                    headers={"Content-Disposition": f'attachment; filename="kf-{code}.png"'})

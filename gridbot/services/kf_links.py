"""One 微信客服 link per grid (issue 17 point 1): the scene is the grid's code, the QR code is drawn from the link's
url, and a printable A4 sheet (PNG, 300 dpi) carries the grid's name, its members and the QR.

Doc 94665 (kf/add_contact_way): {open_kfid, scene} -> {url}; scene at most 32 bytes of [0-9a-zA-Z_-]; the scene
comes back as scene_param in the enter_session event. The WeCom call itself is the caller's (CLI, console).
QR codes: the `qrcode` package (pure Python, encodes and draws with Pillow, which matplotlib already brings).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime

import qrcode
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Grid, Member, MemberGrid
from ..models.kf import KfLink
from ..texts import t
from .audit import record
from .charts import FontMissing, cjk_font

SCENE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")   # doc 94665: scene <= 32 bytes, digits, letters, "_" and "-"
A4 = (2480, 3508)                               # pixels at 300 dpi


def valid_scene(code: str) -> bool:
    return bool(SCENE.match(code))


@dataclass
class LinkRow:
    grid_id: int
    code: str
    name: str
    members: list[str]
    url: str | None


def grids_for_links(session: Session, grid_ids: set[int] | None = None) -> list[LinkRow]:
    """The grids that get a link (level 2 and below: where residents live), with their members and link if any."""
    q = select(Grid).where(Grid.level >= 2).order_by(Grid.code)
    if grid_ids is not None:
        q = q.where(Grid.id.in_(grid_ids))
    rows = []
    for grid in session.scalars(q):
        members = list(session.scalars(select(Member.name).join(MemberGrid).where(
            MemberGrid.grid_id == grid.id, Member.active.is_(True)).order_by(Member.id)))
        url = session.scalar(select(KfLink.url).where(KfLink.grid_id == grid.id))
        rows.append(LinkRow(grid.id, grid.code, grid.name, members, url))
    return rows


def save_link(session: Session, grid_id: int, open_kfid: str, scene: str, url: str, actor: str,
              now: datetime) -> KfLink:
    """Keep the grid's link (a new one replaces the old), audited."""
    link = session.scalar(select(KfLink).where(KfLink.grid_id == grid_id))
    if link is None:
        link = KfLink(grid_id=grid_id, open_kfid=open_kfid, scene=scene, url=url, created_by=actor, created_at=now)
        session.add(link)
    else:
        link.open_kfid, link.scene, link.url, link.created_by, link.created_at = open_kfid, scene, url, actor, now
    session.flush()
    record(session, actor, "kf.link", "grid", grid_id, {"scene": scene, "open_kfid": open_kfid}, at=now)
    return link


def qr_png(url: str, box: int = 10) -> bytes:
    """The link's QR code as a PNG (error correction M: still reads when a notice board's print is worn)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box, border=4)
    code.add_data(url)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(out, format="PNG")
    return out.getvalue()


def sheet_png(row: LinkRow) -> bytes:
    """The printable A4 sheet of one grid: its name and code, the QR code, its members, a line saying what to do.
    Raises charts.FontMissing when no font with Chinese glyphs is installed (the operator installs one)."""
    if not row.url:
        raise ValueError(f"grid {row.code} has no 微信客服 link yet")
    _family, path = cjk_font()
    page = Image.new("RGB", A4, "white")
    draw = ImageDraw.Draw(page)
    title = ImageFont.truetype(path, 120)
    body = ImageFont.truetype(path, 80)
    w, _ = A4

    def centred(y: int, text: str, font: ImageFont.FreeTypeFont) -> None:
        left, _top, right, _bottom = draw.textbbox((0, 0), text, font=font)
        draw.text(((w - (right - left)) // 2, y), text, font=font, fill="black")

    centred(260, t("kf.links.title", grid=row.name, code=row.code), title)
    qr = Image.open(io.BytesIO(qr_png(row.url, box=40))).convert("RGB").resize((1700, 1700))
    page.paste(qr, ((w - 1700) // 2, 600))
    centred(2420, t("kf.links.hint"), body)
    centred(2620, t("kf.links.members", members="、".join(row.members) or "—"), body)
    out = io.BytesIO()
    page.save(out, format="PNG", dpi=(300, 300))
    return out.getvalue()


__all__ = ["FontMissing", "LinkRow", "grids_for_links", "qr_png", "save_link", "sheet_png", "valid_scene"]

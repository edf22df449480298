"""One 微信客服 link per grid (issue 17 point 1): the scene rule, the QR code, the secretary's page with the QR as an
image and the printable A4 sheet, narrowed to the person's grids."""
from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from gridbot.models import Grid
from gridbot.services import kf_links
from tests.console_helpers import build_world


def test_scene_is_the_grid_code_within_wecoms_rule():
    assert kf_links.valid_scene("XF-02") and kf_links.valid_scene("a_b-9" * 6 + "xy")   # 32 bytes
    assert not kf_links.valid_scene("a" * 33) and not kf_links.valid_scene("网格一") and not kf_links.valid_scene("A B")


def test_secretary_sees_each_grids_qr_and_downloads_its_a4_sheet(bot):
    world = build_world(bot)
    app = world.app
    with app.session() as s, s.begin():
        grid_id = s.scalar(select(Grid.id).where(Grid.code == "HY-01"))
        kf_links.save_link(s, grid_id, "wkHY", "HY-01", "https://work.weixin.qq.com/kfid/kfcHY01?enc_scene=HY-01",
                           "test", app.clock.now())
    page = world.client("secretary").get("/console/kf-links")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'src="data:image/png;base64,' in html and "kfcHY01" in html and "尚未生成" in html
    sheet = world.client("secretary").get("/console/kf-links/HY-01.png")
    assert sheet.status_code == 200 and sheet.mimetype == "image/png"
    assert Image.open(io.BytesIO(sheet.data)).size == kf_links.A4
    assert world.client("secretary").get("/console/kf-links/HY-02.png").status_code == 404   # no link yet
    assert world.client("member").get("/console/kf-links").status_code == 403

"""Issue 20, item 7: the roster upload as a weapon.

An 8 MB xlsx with a million rows took 96 s and 1.3 GB of one web process; a 6 KB sheet claiming A1:XFD1048576
took 9.7 s. Now rows and columns are capped (20,000 data rows and 60 columns a sheet, each file at most 10 MB:
far above a county's real roster), the sheet is streamed without trusting its declared dimensions, and a file
over a limit is refused early with a Chinese message naming the limit.
"""
from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from gridbot.models import Household
from gridbot.services import roster
from gridbot.services.roster import COLUMNS, MAX_COLUMNS, MAX_FILE_BYTES, MAX_ROWS, RosterError, read_roster
from tests.console_helpers import build_world, csrf_of

HEADERS = {sheet: list(cols) for sheet, cols in COLUMNS.items()}


def roster_book(households: int = 2, extra_header: int = 0) -> Workbook:
    wb = Workbook(write_only=True)
    grids = wb.create_sheet("网格")
    grids.append(HEADERS["网格"] + [None] * extra_header + (["多余"] if extra_header else []))
    grids.append(["HY", "和园社区", "HY-01", "第一网格", 2, "HY", "", "", ""])
    members = wb.create_sheet("成员")
    members.append(HEADERS["成员"])
    homes = wb.create_sheet("住户")
    homes.append(HEADERS["住户"])
    for i in range(households):
        homes.append(["HY-01", "8", "1", str(1000 + i), "", "", ""])
    return wb


def claim_everything(path: Path) -> Path:
    """Rewrite each sheet's <dimension> to A1:XFD1048576, as the attacker's 6 KB file did."""
    out = path.with_name("claims-" + path.name)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("xl/worksheets/sheet"):
                text = data.decode()
                if "<dimension" in text:
                    import re

                    text = re.sub(r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1:XFD1048576"/>', text)
                else:
                    text = text.replace("<sheetData", '<dimension ref="A1:XFD1048576"/><sheetData', 1)
                data = text.encode()
            dst.writestr(info, data)
    return out


def upload(world, data: bytes, name: str):
    client = world.client("secretary")
    token = csrf_of(client.get("/console/roster").get_data(as_text=True))
    return client.post("/console/roster", data={"file": (io.BytesIO(data), name), "csrf_token": token},
                       content_type="multipart/form-data")


def test_the_limits_are_stated_on_the_page(bot):
    page = build_world(bot).client("secretary").get("/console/roster").get_data(as_text=True)
    assert f"每张表最多 {MAX_ROWS} 行数据、{MAX_COLUMNS} 列，每个文件最多 {MAX_FILE_BYTES // 2**20} MB" in page


def test_a_sheet_with_more_rows_than_the_cap_is_refused_and_nothing_written(bot, tmp_path):
    world = build_world(bot)
    path = tmp_path / "big.xlsx"
    roster_book(households=MAX_ROWS + 5).save(path)
    with world.app.session() as s:
        before = s.scalar(select(func.count()).select_from(Household))
    resp = upload(world, path.read_bytes(), "big.xlsx")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "行数超过上限" in html and str(MAX_ROWS) in html
    with world.app.session() as s:
        assert s.scalar(select(func.count()).select_from(Household)) == before


def test_a_tiny_sheet_claiming_a1_to_xfd1048576_is_read_as_what_it_holds(tmp_path, monkeypatch):
    path = tmp_path / "small.xlsx"
    roster_book(households=3).save(path)
    hostile = claim_everything(path)
    calls = {"n": 0}
    real = roster.cell_text

    def counting(value):
        calls["n"] += 1
        return real(value)

    monkeypatch.setattr(roster, "cell_text", counting)
    tracemalloc.start()
    try:
        raw = read_roster(hostile)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.cells["room"] for r in raw.rows["住户"]] == ["1000", "1001", "1002"]
    assert len(raw.rows["网格"]) == 1 and raw.rows["成员"] == []
    assert calls["n"] < 5_000      # cells looked at: a few hundred, not 16,384 a row (XFD) or a million rows
    assert peak < 64 * 2**20


def test_a_sheet_wider_than_the_cap_is_refused(tmp_path):
    path = tmp_path / "wide.xlsx"
    roster_book(extra_header=MAX_COLUMNS).save(path)
    with pytest.raises(RosterError) as err:
        read_roster(path)
    assert "列数超过上限" in str(err.value) and str(MAX_COLUMNS) in str(err.value)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(bot, tmp_path):
    big = tmp_path / "住户.csv"
    big.write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    for name in ("网格.csv", "成员.csv"):
        (tmp_path / name).write_text("a\n")
    with pytest.raises(RosterError) as err:
        read_roster(tmp_path)
    assert "文件太大" in str(err.value)
    resp = upload(build_world(bot), b"x" * (3 * MAX_FILE_BYTES + 2 * 2**20), "roster.xlsx")
    assert resp.status_code == 413 and "文件太大" in resp.get_data(as_text=True)


def test_an_xlsx_that_would_unpack_beyond_the_limit_is_refused_unopened(tmp_path):
    from gridbot.services.roster import MAX_UNPACKED_BYTES

    path = tmp_path / "bomb.xlsx"
    roster_book().save(path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf, zf.open("xl/media/zeros.bin", "w") as fh:
        chunk = b"\0" * 2**20
        for _ in range(MAX_UNPACKED_BYTES // 2**20 + 1):
            fh.write(chunk)
    assert path.stat().st_size < MAX_FILE_BYTES
    with pytest.raises(RosterError) as err:
        read_roster(path)
    assert "解压后超过" in str(err.value)

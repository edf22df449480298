"""Issue 20 item 4: what residents (and roster files) wrote never becomes a live formula in an export.

The attack: a resident's message beginning with `=`, `+`, `-`, `@` (or a tab/CR) was exported as a formula in the
console's xlsx and CSV (`=HYPERLINK("http://x","点我")` became a clickable link in the secretary's Excel). Every writer
now passes its cells through gridbot.spreadsheet: CSV cells get OWASP's leading `'`, xlsx cells are strings with the
quote prefix set. Numbers and ordinary text are untouched.
"""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from gridbot.models import Household, Member, Ticket
from gridbot.periods import parse_period
from gridbot.services import reports
from gridbot.spreadsheet import csv_cell
from tests.console_helpers import build_world

FORMULA = '=HYPERLINK("http://x","点我")'


@pytest.fixture
def world(bot):
    w = build_world(bot)
    bot.say("-2+3 路灯不亮了", as_="res_b", chat="HY-02")   # a resident's report whose summary starts with "-"
    with bot.app.session() as s, s.begin():
        tk = s.scalar(select(Ticket).where(Ticket.number == w.tickets["HY-01"]))
        tk.summary = FORMULA   # what a resident wrote, as the ticket's summary
        hh = s.scalar(select(Household).where(Household.grid_id == tk.grid_id, Household.building == "1",
                                              Household.unit == "1", Household.room == "101"))
        hh.head_name = "@SUM(1,1)"
    return w


def _summaries_xlsx(data: bytes) -> dict[str, tuple[object, str, bool]]:
    ws = load_workbook(io.BytesIO(data)).active
    header = [c.value for c in ws[1]]
    col = header.index("摘要")
    out = {}
    for row in ws.iter_rows(min_row=2):
        cell = row[col]
        out[row[0].value] = (cell.value, cell.data_type, bool(cell.quotePrefix))
    return out


def test_ticket_export_xlsx_keeps_a_formula_as_text(world):
    resp = world.client("secretary").get("/console/export/tickets.xlsx")
    assert resp.status_code == 200
    cells = _summaries_xlsx(resp.data)
    assert cells[world.tickets["HY-01"]] == (FORMULA, "s", True)
    assert ("-2+3，路灯不亮了", "s", True) in cells.values()
    # ordinary text is untouched
    assert cells[world.tickets["HY-03"]] == ("楼下垃圾好几天没人清运了", "s", False)


def test_ticket_export_csv_prefixes_a_quote(world):
    text = world.client("secretary").get("/console/export/tickets.csv").get_data(as_text=True)
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    col = table[0].index("摘要")
    summaries = {r[0]: r[col] for r in table[1:]}
    assert summaries[world.tickets["HY-01"]] == "'" + FORMULA
    assert "'-2+3，路灯不亮了" in summaries.values()
    assert summaries[world.tickets["HY-03"]] == "楼下垃圾好几天没人清运了"


def test_household_exports_keep_a_name_as_text(world):
    client = world.client("secretary")
    ws = load_workbook(io.BytesIO(client.get("/console/export/households.xlsx").data)).active
    names = [row[4] for row in ws.iter_rows(min_row=2)]
    risky = [c for c in names if c.value == "@SUM(1,1)"]
    assert risky and all(c.data_type == "s" and c.quotePrefix for c in risky)
    text = client.get("/console/export/households.csv").get_data(as_text=True)
    assert "'@SUM(1,1)" in [r[4] for r in csv.reader(io.StringIO(text.lstrip("\ufeff")))]


def test_evaluation_workbook_and_csv_keep_a_member_name_as_text(bot, tmp_path, clock):
    with bot.app.session() as s, s.begin():
        s.scalar(select(Member).where(Member.userid == "mem_zhao")).name = FORMULA
    with bot.app.session() as s:
        data = reports.evaluation(s, "HY", parse_period("2026-10"), bot.app.settings.tz)
    path = tmp_path / "e.xlsx"
    reports.evaluation_xlsx(data, path, clock.now())
    ws = load_workbook(path).active
    cell = next(c for row in ws.iter_rows(min_row=4) for c in row if c.value == FORMULA)
    assert cell.data_type == "s" and cell.quotePrefix
    rows = list(csv.reader(io.StringIO(reports.evaluation_csv(data).decode("utf-8-sig"))))
    assert any(r and r[0] == "'" + FORMULA for r in rows)


@pytest.mark.parametrize("value,expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("楼道灯坏了", "楼道灯坏了"), ("1栋=2", "1栋=2"), ("", ""), (5, 5), (-5, -5), (None, None)])
def test_one_rule_for_every_cell(value, expected):
    assert csv_cell(value) == expected

"""Exports of the current ticket and household lists (the same filters and scope as the page) to xlsx and CSV.

Phones are written in full only for rows the person is entitled to (Principal.sees_phone), masked otherwise.
Every export is audited (who, what, how many rows). Rows are streamed in batches (openpyxl write-only mode)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response, request
from openpyxl import Workbook

from ...clock import local
from ...services.tickets import category_name, status_name
from ...spreadsheet import csv_row, xlsx_row
from ...texts import t
from .. import gridbot_app
from ..auth import audit_event, requires, signed_in
from .base import bp, not_found, phone_for
from .community import household_query
from .tickets import ticket_query

MAX_ROWS = 200_000
BATCH = 2000

TICKET_HEADER = ["编号", "网格", "类别", "紧急程度", "状态", "楼栋", "单元", "室", "摘要", "联系电话", "承办人",
                 "反映人数", "上报时间", "结案时间", "评价"]
HOUSEHOLD_HEADER = ["网格", "楼栋", "单元", "室", "户主", "电话", "标签", "状态"]


def _rows_batched(session: Any, query: Any) -> Iterator[Any]:
    offset = 0
    while offset < MAX_ROWS:
        batch = session.execute(query.limit(BATCH).offset(offset)).all()
        if not batch:
            return
        yield from batch
        offset += BATCH


def _send(rows: Iterable[list[Any]], header: list[str], fmt: str, name: str) -> Response:
    if fmt == "csv":
        def generate() -> Iterator[str]:
            buf = io.StringIO()
            writer = csv.writer(buf)
            buf.write("\ufeff")           # Excel opens UTF-8 CSV with Chinese correctly only with a BOM
            writer.writerow(csv_row(header))
            for row in rows:
                writer.writerow(csv_row(row))
                if buf.tell() > 64 * 1024:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue()

        return Response(generate(), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename={name}.csv"})

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=name)
    ws.append(xlsx_row(ws, header))
    for row in rows:
        ws.append(xlsx_row(ws, row))
    out = io.BytesIO()
    wb.save(out)
    return Response(out.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={name}.xlsx"})


@bp.get("/export/tickets.<fmt>")
@requires("casework")
def export_tickets(fmt: str) -> Response:
    if fmt not in ("xlsx", "csv"):
        not_found()
    p = signed_in()
    app = gridbot_app()
    tz = app.settings.timezone
    with app.session() as s:
        query, filters = ticket_query(s, p, request.args, app.clock.now())
        rows = []
        for tk, _code, gname, assignee in _rows_batched(s, query):
            rows.append([tk.number, gname, category_name(tk.category), t(f"tickets.urgency.{tk.urgency}"),
                         status_name(tk.status), tk.building or "", tk.unit or "", tk.room or "", tk.summary,
                         phone_for(p, tk.grid_id, tk.contact_phone), assignee or "", tk.reporters,
                         local(tk.created_at, tz).strftime("%Y-%m-%d %H:%M"),
                         local(tk.closed_at, tz).strftime("%Y-%m-%d %H:%M") if tk.closed_at else "",
                         tk.rating or ""])
    audit_event(p.actor, "console.export", "tickets", None, format=fmt, rows=len(rows),
                filters={k: v for k, v in filters.items() if v})
    return _send(rows, TICKET_HEADER, fmt, "tickets")


@bp.get("/export/households.<fmt>")
@requires("casework")
def export_households(fmt: str) -> Response:
    if fmt not in ("xlsx", "csv"):
        not_found()
    p = signed_in()
    app = gridbot_app()
    status_names = {"active": "在住", "moved_out": "已迁出", "vacant": "空置"}
    with app.session() as s:
        query, filters = household_query(s, p, request.args)
        rows = [[gname, h.building, h.unit, h.room, h.head_name or "", phone_for(p, h.grid_id, h.phone),
                 "、".join(h.tags or []), status_names.get(h.status, h.status)]
                for h, _code, gname in _rows_batched(s, query)]
    audit_event(p.actor, "console.export", "households", None, format=fmt, rows=len(rows),
                filters={k: v for k, v in filters.items() if v})
    return _send(rows, HOUSEHOLD_HEADER, fmt, "households")

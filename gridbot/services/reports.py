"""Evaluation (考核) workbooks and work-log summaries (工作日志周/月汇总) for the community secretary.

The figures are the compliance module's (patrols, visits, logs, tickets per member over a period) and the metrics
module's (satisfaction of the tickets reported in the period, per assignee), plus coverage from the snapshots;
this module only weighs them into a score and a grade (config/evaluation.yaml) and lays them out as a secretary
prints them: a title row, Chinese headers frozen under it, widths that fit, landscape, one page wide.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..config import DEFAULT_CONFIG_DIR, ConfigError, load_yaml
from ..errors import Refusal
from ..models import Community, CoverageSnapshot, Grid, Member, WorkLog
from ..periods import Period, day_start
from ..spreadsheet import as_text, csv_row
from ..texts import t
from ..workcal import WorkCalendar, calendar_for
from . import compliance, metrics
from .roster import ROLE_LABELS
from .work import leave_days as work_leave_days
from .work import work_grids

COMPONENTS = ("patrols", "key_visits", "all_visits", "log_days", "on_time", "satisfaction", "coverage")
GRADES = ("excellent", "qualified", "basic", "unqualified", "insufficient_first", "insufficient")


# -- config --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvaluationRules:
    weights: dict[str, float]
    thresholds: dict[str, float]          # excellent / qualified / basic -> minimum score
    roles: frozenset[str]
    patrol_roles: frozenset[str]
    min_workdays: int = 10                # fewer working days measured -> 数据不足, not graded
    min_components: int = 2               # fewer components with something to measure -> 数据不足

    @classmethod
    def load(cls, config_dir: Path | None = None) -> EvaluationRules:
        data = load_yaml(Path(config_dir or DEFAULT_CONFIG_DIR), "evaluation.yaml") or {}
        weights = {k: float(v) for k, v in (data.get("weights") or {}).items()}
        unknown = set(weights) - set(COMPONENTS)
        if unknown:
            raise ConfigError(f"evaluation.yaml weights: 未知的考核项 {sorted(unknown)} "
                              f"(known: {', '.join(COMPONENTS)})")
        grades = {k: float(v) for k, v in (data.get("grades") or {}).items()}
        if set(grades) != {"excellent", "qualified", "basic"} or not (
                grades["excellent"] >= grades["qualified"] >= grades["basic"]):
            raise ConfigError("evaluation.yaml grades: 须有 excellent >= qualified >= basic 三个分数线")
        minimum = data.get("minimum") or {}
        try:
            min_workdays, min_components = int(minimum.get("workdays", 10)), int(minimum.get("components", 2))
        except (TypeError, ValueError):
            raise ConfigError("evaluation.yaml minimum: workdays 与 components 须为整数") from None
        if min_workdays < 0 or not 0 <= min_components <= len(COMPONENTS):
            raise ConfigError(f"evaluation.yaml minimum: workdays >= 0，0 <= components <= {len(COMPONENTS)}")
        return cls(weights, grades, frozenset(data.get("roles") or ("member", "part_time", "grid_leader")),
                   frozenset(data.get("patrol_roles") or ("member", "grid_leader")), min_workdays, min_components)

    def grade(self, score: float | None) -> str:
        if score is None:
            return "unqualified"
        for key in ("excellent", "qualified", "basic"):
            if score >= self.thresholds[key] - 1e-9:
                return key
        return "unqualified"


# -- evaluation -----------------------------------------------------------------------------------------
def _ratio(done: int, total: int) -> float | None:
    return round(done / total, 4) if total else None


def _coverage_of(session: Session, grid_codes: list[str], last_day: date) -> dict[str, tuple[int, int]]:
    """Grid code -> (covered, households) on the last snapshot at or before last_day (one query)."""
    rows = session.execute(select(Grid.code, CoverageSnapshot.day, CoverageSnapshot.covered,
                                  CoverageSnapshot.households)
                           .join(Grid, Grid.id == CoverageSnapshot.grid_id)
                           .where(Grid.code.in_(grid_codes or [""]), CoverageSnapshot.day <= last_day)
                           .order_by(CoverageSnapshot.day)).all()
    out: dict[str, tuple[int, int]] = {}
    for code, _day, covered, households in rows:
        out[code] = (covered, households)
    return out


def evaluation(session: Session, community_code: str, period: Period, tz: ZoneInfo,
               rules: EvaluationRules | None = None, today: date | None = None,
               calendar: WorkCalendar | None = None) -> dict[str, Any]:
    """Per member: the figures, each component (0-1), the score (0-100) and the grade. Plain data.
    A period still running on `today` is evaluated up to and including today (work days not yet come are not
    counted as missed).

    Fair to people who were not there: a member is measured from the day they were on the roster, on working
    days (config/calendar.yaml, with 调休) less their leave; a member with too little to measure (fewer working
    days or components than evaluation.yaml `minimum`) is marked 数据不足 (首月 when they joined in the period),
    not graded; members not at work (在岗=否, or taken off the roster during the period) are listed apart under
    "inactive", not graded 0."""
    rules = rules or EvaluationRules.load()
    cal = calendar or calendar_for(None, tz)
    if today is not None and period.end > today + timedelta(days=1) > period.start:
        period = Period(period.start, today + timedelta(days=1), period.label)
    data = compliance.compliance(session, community_code, period, tz, cal)   # refuses an unknown community
    community = session.scalars(select(Community).where(Community.code == community_code)).one()
    since, until = day_start(period.start, tz), day_start(period.end, tz)
    sat = {r["member"]: r for r in metrics.metrics_by(session, "member", since=since, until=until,
                                                       community_id=community.id)}
    codes = sorted({c for m in data["members"] for c in m["grids"]})
    cov = _coverage_of(session, codes, period.last_day)
    year_end = date(period.last_day.year + 1, 1, 1)
    grid_names = dict(session.execute(select(Grid.code, Grid.name).where(Grid.code.in_(codes or [""]))).all())

    rows, inactive = [], []
    for m in data["members"]:
        roles = set(m["roles"])
        if not roles & rules.roles or roles & {"secretary", "chief"}:
            continue
        joined = date.fromisoformat(m["since"])
        if joined >= period.end:               # not yet on the roster in this period
            continue
        if not m["on_duty"]:
            inactive.append(_inactive_row(m, grid_names, "off_duty"))
            continue
        s = sat.get(m["userid"]) or {}
        covered = sum(cov.get(c, (0, 0))[0] for c in m["grids"])
        households = sum(cov.get(c, (0, 0))[1] for c in m["grids"])
        all_share = _ratio(m["households_visited_year"], m["households"])
        year_start = max(date(period.last_day.year, 1, 1), joined)   # the yearly round counts from joining
        year_share = ((period.last_day - year_start).days + 1) / (year_end - year_start).days
        workdays = m["workdays_due"]
        comp = {
            "patrols": (_ratio(m["grid_months_patrolled"], m["grid_months_required"])
                        if roles & rules.patrol_roles else None),
            "key_visits": _ratio(m["key_visited_quarter"], m["key_households"]),
            "all_visits": None if all_share is None else round(min(1.0, all_share / year_share), 4),
            "log_days": None if not workdays else round(min(1.0, m["log_days"] / workdays), 4),
            "on_time": _ratio(m["tickets_on_time"], m["tickets_handled"]),
            "satisfaction": s.get("satisfaction_rate"),
            "coverage": _ratio(covered, households),
        }
        weighed = [(rules.weights.get(k, 0.0), v) for k, v in comp.items() if v is not None]
        total = sum(w for w, _ in weighed)
        score = round(100 * sum(w * v for w, v in weighed) / total, 1) if total else None
        measured = sum(1 for v in comp.values() if v is not None)
        if workdays < rules.min_workdays or measured < rules.min_components:
            grade = "insufficient_first" if joined > period.start else "insufficient"
        else:
            grade = rules.grade(score)
        rows.append({
            "userid": m["userid"], "name": m["name"], "roles": m["roles"], "grids": m["grids"],
            "grid_names": [grid_names.get(c, c) for c in m["grids"]], "since": m["since"],
            "patrols": m["patrols"], "grid_months_patrolled": m["grid_months_patrolled"],
            "grid_months_required": m["grid_months_required"],
            "visits": m["visits"], "key_visited": m["key_visited_quarter"], "key_households": m["key_households"],
            "households_visited_year": m["households_visited_year"], "households": m["households"],
            "log_days": m["log_days"], "workdays": workdays, "leave_days": m["leave_days"],
            "tickets_handled": m["tickets_handled"], "tickets_on_time": m["tickets_on_time"],
            "on_time_rate": comp["on_time"], "satisfaction_rate": comp["satisfaction"],
            "rated": s.get("rated", 0), "coverage": comp["coverage"], "covered": covered,
            "coverage_households": households,
            "components": comp, "score": score, "grade": grade,
        })
    inactive += _left_the_roster(session, community.id, period, tz, rules, grid_names)
    rows.sort(key=lambda r: (r["grade"].startswith("insufficient"), -(r["score"] or 0), r["userid"]))
    return {"community": data["community"], "community_name": data["community_name"], "period": period.label,
            "from": data["from"], "until": data["until"], "weights": rules.weights,
            "thresholds": rules.thresholds, "members": rows,
            "inactive": sorted(inactive, key=lambda r: r["userid"])}


def _inactive_row(m: dict[str, Any], grid_names: dict[str, str], why: str) -> dict[str, Any]:
    return {"userid": m["userid"], "name": m["name"], "roles": m["roles"], "grids": m["grids"],
            "grid_names": [grid_names.get(c, c) for c in m["grids"]], "why": why}


def _left_the_roster(session: Session, community_id: int, period: Period, tz: ZoneInfo, rules: EvaluationRules,
                     grid_names: dict[str, str]) -> list[dict[str, Any]]:
    """Members taken off the roster (active false) who were on it during the period: listed, not graded."""
    start, end = day_start(period.start, tz), day_start(period.end, tz)
    out = []
    for member in session.scalars(select(Member).where(Member.community_id == community_id,
                                                       Member.active.is_(False), Member.created_at < end,
                                                       Member.updated_at >= start)
                                  .options(selectinload(Member.grid_links)).order_by(Member.id)):
        roles = set(member.roles or [])
        if not roles & rules.roles or roles & {"secretary", "chief"}:
            continue
        codes = [g.code for g in work_grids(session, [link.grid_id for link in member.grid_links])]
        out.append(_inactive_row({"userid": member.userid, "name": member.name, "roles": list(member.roles or []),
                                  "grids": codes}, {**grid_names, **{g: g for g in codes if g not in grid_names}},
                                 "left"))
    return out


_COLUMNS = (  # (header key, width, value)
    ("name", 10, lambda r: r["name"]),
    ("userid", 12, lambda r: r["userid"]),
    ("roles", 12, lambda r: "、".join(ROLE_LABELS.get(x, x) for x in r["roles"])),
    ("grids", 16, lambda r: "、".join(r["grid_names"])),
    ("patrols", 9, lambda r: r["patrols"]),
    ("patrol_months", 12, lambda r: (f"{r['grid_months_patrolled']}/{r['grid_months_required']}"
                                     if r["components"]["patrols"] is not None else None)),
    ("key_visits", 14, lambda r: f"{r['key_visited']}/{r['key_households']}"),
    ("all_visits", 15, lambda r: f"{r['households_visited_year']}/{r['households']}"),
    ("visits", 9, lambda r: r["visits"]),
    ("log_days", 9, lambda r: f"{r['log_days']}/{r['workdays']}"),
    ("tickets", 9, lambda r: r["tickets_handled"]),
    ("on_time", 11, lambda r: r["on_time_rate"]),
    ("satisfaction", 9, lambda r: r["satisfaction_rate"]),
    ("coverage", 11, lambda r: r["coverage"]),
    ("score", 8, lambda r: r["score"]),
    ("grade", 9, lambda r: t(f"reports.evaluation.grades.{r['grade']}")),
)
_PERCENT = {"on_time", "satisfaction", "coverage"}


def _headers() -> list[str]:
    return [t(f"reports.evaluation.headers.{key}") for key, _, _ in _COLUMNS]


def _cells(row: dict[str, Any]) -> list[Any]:
    return [fn(row) for _, _, fn in _COLUMNS]


def evaluation_csv(report: dict[str, Any]) -> bytes:
    """UTF-8 with a BOM (Excel opens it in Chinese), header row, one row per member; rates as percentages."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_row(_headers()))
    for row in report["members"]:
        cells = []
        for (key, _, _), value in zip(_COLUMNS, _cells(row), strict=True):
            if key in _PERCENT:
                value = "" if value is None else f"{round(value * 100, 1):g}%"
            cells.append("" if value is None else value)
        writer.writerow(csv_row(cells))
    if report.get("inactive"):       # members not at work: listed apart, not graded
        writer.writerow([])
        writer.writerow(csv_row([t("reports.evaluation.inactive_sheet")]))
        writer.writerow(csv_row(_inactive_headers()))
        for row in report["inactive"]:
            writer.writerow(csv_row(_inactive_cells(row)))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _inactive_headers() -> list[str]:
    return [t(f"reports.evaluation.headers.{key}") for key in ("name", "userid", "roles", "grids")] + [
        t("reports.evaluation.inactive_why_header")]


def _inactive_cells(row: dict[str, Any]) -> list[Any]:
    return [row["name"], row["userid"], "、".join(ROLE_LABELS.get(x, x) for x in row["roles"]),
            "、".join(row["grid_names"]), t(f"reports.evaluation.inactive_why.{row['why']}")]


def evaluation_xlsx(report: dict[str, Any], path: Path, generated: datetime) -> None:
    """The workbook a secretary prints: title, subtitle, frozen Chinese header, widths, landscape, fit to width."""
    from openpyxl import Workbook  # noqa: PLC0415 - openpyxl (~0.2 s) loads only when a workbook is written
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side  # noqa: PLC0415 - openpyxl: as above
    from openpyxl.utils import get_column_letter  # noqa: PLC0415 - openpyxl: as above
    from openpyxl.worksheet.properties import PageSetupProperties  # noqa: PLC0415 - openpyxl: as above
    from openpyxl.worksheet.worksheet import Worksheet  # noqa: PLC0415 - openpyxl: as above

    wb = Workbook()
    ws = wb.active
    if not isinstance(ws, Worksheet):  # pragma: no cover - a new workbook opens on one worksheet
        raise TypeError(f"a new workbook's active sheet is a {type(ws).__name__}")
    ws.title = t("reports.evaluation.sheet")
    n = len(_COLUMNS)
    last = get_column_letter(n)
    ws["A1"] = t("reports.evaluation.title", community=report["community_name"], period=report["period"])
    ws["A1"].font = Font(size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells(f"A1:{last}1")
    ws.row_dimensions[1].height = 30
    ws["A2"] = t("reports.evaluation.subtitle", start=report["from"], end=report["until"],
                 generated=generated.strftime("%Y-%m-%d %H:%M"))
    ws["A2"].alignment = Alignment(horizontal="center")
    ws.merge_cells(f"A2:{last}2")
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for col, (header, (_, width, _)) in enumerate(zip(_headers(), _COLUMNS, strict=True), start=1):
        cell = as_text(ws.cell(row=3, column=col, value=header))
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = border
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.row_dimensions[3].height = 32
    for r, row in enumerate(report["members"], start=4):
        for col, ((key, _, _), value) in enumerate(zip(_COLUMNS, _cells(row), strict=True), start=1):
            cell = as_text(ws.cell(row=r, column=col,
                                   value=value if value is not None else t("reports.evaluation.none")))
            cell.border = border
            if key in _PERCENT and value is not None:
                cell.number_format = "0.0%"
            if key == "score" and value is not None:
                cell.number_format = "0.0"
            if key not in ("name", "userid", "roles", "grids"):
                cell.alignment = Alignment(horizontal="center")
    foot = 4 + len(report["members"]) + 1
    ws.cell(row=foot, column=1, value=t("reports.evaluation.footnote")).alignment = Alignment(wrap_text=True)
    ws.merge_cells(f"A{foot}:{last}{foot}")
    ws.row_dimensions[foot].height = 45
    ws.freeze_panes = "C4"                      # header rows and the name/userid columns stay in view
    ws.print_title_rows = "3:3"                 # the header repeats on every printed page
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    if report.get("inactive"):      # 未在岗: a sheet of their own, not graded
        away = wb.create_sheet(t("reports.evaluation.inactive_sheet"))
        away["A1"] = t("reports.evaluation.inactive_title", community=report["community_name"],
                       period=report["period"])
        away["A1"].font = Font(size=14, bold=True)
        for col, header in enumerate(_inactive_headers(), start=1):
            cell = as_text(away.cell(row=2, column=col, value=header))
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
            cell.border = border
            away.column_dimensions[get_column_letter(col)].width = (10, 12, 12, 16, 24)[col - 1]
        for r, row in enumerate(report["inactive"], start=3):
            for col, value in enumerate(_inactive_cells(row), start=1):
                as_text(away.cell(row=r, column=col, value=value)).border = border
        away.freeze_panes = "A3"
    wb.save(path)


# -- work-log summaries -------------------------------------------------------------------------------
def log_summary(session: Session, community_code: str, period: Period,
                entries_per_member: int = 12, calendar: WorkCalendar | None = None,
                tz: ZoneInfo | None = None) -> dict[str, Any]:
    """Each staff member's work logs over a week or a month, for the secretary's review (审核).
    Missing days are the working days (config/calendar.yaml, with 调休) since the member was on the roster on
    which they were not on leave and wrote nothing."""
    zone = tz or (calendar.tz if calendar is not None else ZoneInfo("Asia/Shanghai"))
    cal = calendar or calendar_for(None, zone)
    community = session.scalar(select(Community).where(Community.code == community_code))
    if community is None:
        raise Refusal("refusal.no_community", code=community_code)
    members = list(session.scalars(select(Member).where(Member.community_id == community.id,
                                                        Member.active.is_(True))
                                   .options(selectinload(Member.grid_links)).order_by(Member.id)))
    logs: dict[int, list[WorkLog]] = {}
    for entry in session.scalars(select(WorkLog).where(WorkLog.member_id.in_([m.id for m in members] or [0]),
                                                       WorkLog.day >= period.start, WorkLog.day < period.end)
                                 .order_by(WorkLog.day, WorkLog.at, WorkLog.id)):
        logs.setdefault(entry.member_id, []).append(entry)
    workdays = cal.workdays(period.start, period.end)
    rows: list[dict[str, Any]] = []
    for m in members:
        roles = set(m.roles or [])
        if roles & {"secretary", "chief", "operator"} or not roles & {"member", "part_time", "grid_leader",
                                                                         "group_leader", "building_leader"}:
            continue
        mine = logs.get(m.id, [])
        days = sorted({e.day for e in mine})
        joined = compliance.member_since(session, m, cal.tz)
        away = work_leave_days(session, m.id, max(period.start, joined), period.end, cal)
        due = [d for d in workdays if d >= joined and d not in away]
        rows.append({
            "userid": m.userid, "name": m.name,
            "grids": [g.name for g in work_grids(session, [link.grid_id for link in m.grid_links])],
            "days": len(days), "entries": len(mine), "reviewed": sum(1 for e in mine if e.reviewed_at),
            "missing_workdays": [d.isoformat() for d in due if d not in set(days)],
            "leave_days": len([d for d in workdays if d in away]),
            "log": [{"day": e.day.isoformat(), "text": e.text, "reviewed": e.reviewed_at is not None}
                    for e in mine[:entries_per_member]],
            "more": max(0, len(mine) - entries_per_member),
        })
    return {"community": community.code, "community_name": community.name, "period": period.label,
            "from": period.start.isoformat(), "until": period.last_day.isoformat(),
            "workdays": len(workdays), "members": rows,
            "unreviewed": sum(r["entries"] - r["reviewed"] for r in rows)}


def log_summary_lines(data: dict[str, Any]) -> list[str]:
    if not any(r["entries"] for r in data["members"]):
        return [t("reports.logs.none", community=data["community_name"], period=data["period"])]
    lines = [t("reports.logs.title", community=data["community_name"], period=data["period"],
               start=data["from"], end=data["until"])]
    for r in data["members"]:
        missing = t("reports.logs.missing", n=len(r["missing_workdays"])) if r["missing_workdays"] else ""
        lines.append(t("reports.logs.member", name=r["name"], grids="、".join(r["grids"]) or "-", days=r["days"],
                       entries=r["entries"], reviewed=r["reviewed"], missing=missing))
        for e in r["log"]:
            day = date.fromisoformat(e["day"])
            lines.append(t("reports.logs.entry", day=f"{day.month}月{day.day}日", text=" ".join(e["text"].split())))
        if r["more"]:
            lines.append(t("reports.logs.more", n=r["more"]))
    if data["unreviewed"]:
        lines.append(t("reports.logs.pending", n=data["unreviewed"]))
    return lines

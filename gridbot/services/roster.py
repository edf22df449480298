"""Roster import: grids, members and households from a clerk's spreadsheet (.xlsx or three CSV files).

Two phases so that nothing is half-imported: read + validate every row first (each bad row is reported with its
sheet, row number and a Chinese reason), then upsert everything in the caller's transaction. Upserts compare
before they assign, so importing the same file twice changes nothing and reports 0 changes. The import never
deletes: grids, members and households missing from the file are left as they are.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cn2an
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..errors import Refusal
from ..models import (
    HOUSEHOLD_TAGS,
    ChatIdentity,
    ChatMembership,
    Community,
    Grid,
    GridChat,
    Household,
    HouseholdBinding,
    Member,
    MemberGrid,
)
from ..models.org import CHAT_ROBOT_GROUP, CHAT_UNKNOWN, ROLES
from ..places import place_text
from ..texts import t
from . import audit
from .scope import Scope

SHEET_GRIDS, SHEET_MEMBERS, SHEET_HOUSEHOLDS = "网格", "成员", "住户"
SHEETS = (SHEET_GRIDS, SHEET_MEMBERS, SHEET_HOUSEHOLDS)

# header -> field; required headers must be present as columns (cells may still be optional).
COLUMNS: dict[str, dict[str, str]] = {
    SHEET_GRIDS: {"社区编码": "community_code", "社区名称": "community_name", "网格编码": "code",
                  "网格名称": "name", "层级": "level", "上级网格编码": "parent", "相邻网格编码": "neighbours",
                  "群聊ID": "chat_ids", "群机器人key": "robot_key"},
    SHEET_MEMBERS: {"姓名": "name", "企业微信账号": "userid", "手机号": "phone", "角色": "roles",
                    "负责网格编码": "grids", "负责楼栋": "buildings", "AB岗搭档账号": "partner", "在岗": "on_duty"},
    SHEET_HOUSEHOLDS: {"网格编码": "grid", "楼栋": "building", "单元": "unit", "室": "room",
                       "户主姓名": "head_name", "联系电话": "phone", "标签": "tags"},
}
REQUIRED_HEADERS = {
    SHEET_GRIDS: ("社区编码", "网格编码", "网格名称"),
    SHEET_MEMBERS: ("姓名", "企业微信账号", "角色"),
    SHEET_HOUSEHOLDS: ("网格编码", "楼栋", "室"),
}

ROLE_NAMES = {
    "兼职网格员": "part_time", "专职网格员": "member", "网格员": "member", "楼栋长": "building_leader",
    "居民小组长": "group_leader", "网格长": "grid_leader", "社区书记": "secretary", "书记": "secretary",
    "总网格长": "chief", "管理员": "operator",
}
ROLE_LABELS = {"part_time": "兼职网格员", "member": "专职网格员", "building_leader": "楼栋长",
               "group_leader": "居民小组长", "grid_leader": "网格长", "secretary": "社区书记",
               "chief": "总网格长", "operator": "管理员"}
YES, NO = {"是", "在岗", "y", "yes", "true", "1"}, {"否", "不在岗", "离岗", "n", "no", "false", "0"}

_LIST_SPLIT = re.compile(r"[,，、;；\s]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}\d{7,8}")
_USERID = re.compile(r"[A-Za-z0-9_.@\-]{1,64}")
_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
LARGE_ROWS = 2000  # above this a progress bar is worth showing even when stderr is not a terminal
# Limits far above a real roster (a large community has a few thousand households; a county imports community by
# community), so a hostile or mistaken file is refused early instead of taking a web process's memory and minutes.
MAX_ROWS = 20_000            # data rows per sheet
MAX_COLUMNS = 60             # columns read per sheet (the roster has at most 9)
MAX_FILE_BYTES = 10 * 1024 * 1024          # each uploaded or named file
MAX_UNPACKED_BYTES = 200 * 1024 * 1024     # an .xlsx's parts once unzipped (a zip bomb is refused unopened)


class RosterError(Refusal):
    """The file could not be read at all (missing sheet, wrong headers, unreadable file); `errors` name where."""

    def __init__(self, errors: list[RowError]):
        super().__init__("roster.err.unreadable_file", problems="; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class RowError:
    sheet: str
    row: int
    reason: str

    def __str__(self) -> str:
        if self.row == 0:  # the file or sheet as a whole ("找不到文件"), not one of its rows
            return t("roster.file_error", sheet=self.sheet, reason=self.reason)
        return t("roster.row_error", sheet=self.sheet, row=self.row, reason=self.reason)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated


@dataclass
class ImportResult:
    counts: dict[str, Counts] = field(default_factory=lambda: {s: Counts() for s in SHEETS})
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changes(self) -> int:
        return sum(c.changed for c in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {sheet: {"created": c.created, "updated": c.updated, "unchanged": c.unchanged}
                for sheet, c in self.counts.items()}


@dataclass
class Row:
    sheet: str
    number: int            # the row number the clerk sees in Excel (header = 1)
    cells: dict[str, str]  # field -> stripped text ("" when empty)


@dataclass
class RawRoster:
    rows: dict[str, list[Row]]
    source: str

    @property
    def total(self) -> int:
        return sum(len(r) for r in self.rows.values())


# -- reading -----------------------------------------------------------------------------------------
def cell_text(value: Any) -> str:
    """A cell as the clerk meant it: 101.0 -> '101', 13900001234 -> '13900001234', None -> ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\u3000", " ").strip()


def _table(sheet: str, header: list[Any], body: Iterable[tuple[int, list[Any]]]) -> tuple[list[Row], list[RowError]]:
    names = [cell_text(h).replace(" ", "") for h in header]
    mapping = COLUMNS[sheet]
    missing = [h for h in REQUIRED_HEADERS[sheet] if h not in names]
    if missing:
        return [], [RowError(sheet, 1, t("roster.err.missing_header", headers="、".join(missing)))]
    index = {mapping[n]: i for i, n in enumerate(names) if n in mapping}
    rows = []
    for number, values in body:
        cells = {f: cell_text(values[i]) if i < len(values) else "" for f, i in index.items()}
        for f in mapping.values():
            cells.setdefault(f, "")
        if any(cells.values()):
            rows.append(Row(sheet, number, cells))
    return rows, []


def _too_many_rows(sheet: str) -> RosterError:
    return RosterError([RowError(sheet, 0, t("roster.err.too_many_rows", n=MAX_ROWS))])


def _capped(sheet: str, rows: Iterable[Any]) -> Iterable[tuple[int, list[Any]]]:
    """Data rows numbered as Excel shows them (header = 1), stopped at the cap: a row with content beyond
    MAX_ROWS refuses the file, and so do more than MAX_ROWS empty rows beyond it (bounded work either way)."""
    empty_beyond = 0
    for number, values in enumerate(rows, start=2):
        values = list(values)[:MAX_COLUMNS]
        if number > MAX_ROWS + 1:
            if any(cell_text(v) for v in values):
                raise _too_many_rows(sheet)
            empty_beyond += 1
            if empty_beyond > MAX_ROWS:
                raise _too_many_rows(sheet)
            continue
        yield number, values


def _check_header_width(sheet: str, header: list[Any]) -> None:
    if any(cell_text(v) for v in header[MAX_COLUMNS:]):
        raise RosterError([RowError(sheet, 1, t("roster.err.too_many_columns", n=MAX_COLUMNS))])


def _check_unpacked(path: Path) -> None:
    """An .xlsx is a zip: refuse one whose parts would unpack beyond MAX_UNPACKED_BYTES, before openpyxl reads it
    (zipfile stops reading a part at its declared size, so the declaration bounds the work)."""

    try:
        with zipfile.ZipFile(path) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError):
        return   # openpyxl says what is wrong with it
    if unpacked > MAX_UNPACKED_BYTES:
        raise RosterError([RowError(path.name, 0, t("roster.err.too_large_unpacked",
                                                     mb=MAX_UNPACKED_BYTES // (1024 * 1024)))])


def read_xlsx(path: Path) -> RawRoster:
    """Streams each sheet (openpyxl read-only) and never trusts its declared dimensions: a sheet claiming
    A1:XFD1048576 is read as the rows it really holds, at most MAX_COLUMNS wide, stopped at MAX_ROWS."""

    _check_unpacked(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise RosterError([RowError(path.name, 0, t("roster.err.unreadable", detail=type(exc).__name__))]) from None
    rows: dict[str, list[Row]] = {}
    errors: list[RowError] = []
    try:
        for sheet in SHEETS:
            if sheet not in wb.sheetnames:
                errors.append(RowError(sheet, 0, t("roster.err.missing_sheet", sheet=sheet)))
                continue
            ws = wb[sheet]
            ws.reset_dimensions()   # the file's <dimension> is a claim, not a fact: read what is there
            # the header row as written (one row, at most the 16,384 columns a sheet can have); the body at most
            # MAX_COLUMNS wide, lazily, row by row
            header = list(next(ws.iter_rows(max_row=1, values_only=True), ()) or ())
            _check_header_width(sheet, header)
            body = ws.iter_rows(min_row=2, max_col=MAX_COLUMNS, values_only=True)
            rows[sheet], errs = _table(sheet, header[:MAX_COLUMNS], _capped(sheet, body))
            errors += errs
    finally:
        wb.close()
    if errors:
        raise RosterError(errors)
    return RawRoster(rows, str(path))


def _read_csv_text(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK unless told otherwise
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterError([RowError(path.name, 0, t("roster.err.encoding"))])


def read_csv(paths: list[Path]) -> RawRoster:
    by_sheet: dict[str, Path] = {}
    for p in paths:
        if p.stem in SHEETS:
            by_sheet[p.stem] = p
    errors = [RowError(s, 0, t("roster.err.missing_csv", file=f"{s}.csv")) for s in SHEETS if s not in by_sheet]
    if errors:
        raise RosterError(errors)
    rows: dict[str, list[Row]] = {}
    for sheet, p in by_sheet.items():
        reader = csv.reader(io.StringIO(_read_csv_text(p), newline=""))
        header = next(reader, [])
        _check_header_width(sheet, header)
        rows[sheet], errs = _table(sheet, header[:MAX_COLUMNS], _capped(sheet, reader))
        errors += errs
    if errors:
        raise RosterError(errors)
    return RawRoster(rows, ", ".join(str(by_sheet[s]) for s in SHEETS))


def read_roster(paths: list[Path] | Path) -> RawRoster:
    """An .xlsx file, a directory holding 网格.csv / 成员.csv / 住户.csv, or those three files."""
    paths = [Path(p) for p in (paths if isinstance(paths, list) else [paths])]
    if not paths:
        raise RosterError([RowError("-", 0, t("roster.err.no_file"))])
    for p in paths:
        if not p.exists():
            raise RosterError([RowError(p.name, 0, t("roster.err.not_found", path=str(p)))])
    if len(paths) == 1 and paths[0].is_dir():
        paths = sorted(paths[0].glob("*.csv"))
        _check_sizes(paths)
        return read_csv(paths)
    _check_sizes(paths)
    if len(paths) == 1 and paths[0].suffix.lower() in (".xlsx", ".xlsm"):
        return read_xlsx(paths[0])
    if all(p.suffix.lower() == ".csv" for p in paths):
        return read_csv(paths)
    raise RosterError([RowError(paths[0].name, 0, t("roster.err.file_kind"))])


def _check_sizes(paths: list[Path]) -> None:
    big = [p for p in paths if p.is_file() and p.stat().st_size > MAX_FILE_BYTES]
    if big:
        raise RosterError([RowError(p.name, 0, t("roster.err.too_large", mb=MAX_FILE_BYTES // (1024 * 1024)))
                           for p in big])


# -- normalising cells --------------------------------------------------------------------------------
def split_list(value: str) -> list[str]:
    return [v for v in _LIST_SPLIT.split(value or "") if v]


def norm_place(value: str, suffixes: tuple[str, ...]) -> str:
    """'3栋' / '3号楼' / '三栋' -> '3'; '二单元' -> '2'; '101室' -> '101'. Non-numeric names stay as written."""

    text = unicodedata.normalize("NFKC", value or "").strip().replace(" ", "")
    for suffix in sorted(suffixes, key=len, reverse=True):
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    if text.endswith("号") and len(text) > 1:
        text = text[:-1]
    if re.fullmatch(r"\d+", text):
        return str(int(text)) if not text.startswith("0") or len(text) == 1 else text
    if re.fullmatch(r"[零〇一二两三四五六七八九十百]+", text):
        return _cn_digits(text)
    return text


def _cn_digits(text: str) -> str:
    """'三' -> '3', '二十一' -> '21', '一零一' -> '101' (read digit by digit when there is no 十/百)."""

    if any(c in text for c in "十百"):
        try:
            return str(int(cn2an.cn2an(text, "smart")))
        except (ValueError, KeyError):
            return text
    table = {"零": "0", "〇": "0", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5",
             "六": "6", "七": "7", "八": "8", "九": "9"}
    return "".join(table[c] for c in text)


BUILDING_SUFFIXES = ("号楼", "栋", "幢", "楼", "座")


def normalise_address(building: str, unit: str, room: str) -> tuple[str, str, str]:
    """Roster cells to the strings the chat side uses (gridbot.understanding.parse_address): '3号楼' -> '3'."""
    return (norm_place(building, BUILDING_SUFFIXES), norm_place(unit, ("单元",)) if unit else "",
            norm_place(room, ("室", "号")))


def norm_phone(value: str) -> str | None:
    """Digits of a mobile or landline number, or None if it is not one."""
    digits = re.sub(r"[\s\-()（）+]", "", value or "")
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
        return digits
    return None


def _canonical_roles(roles: Iterable[str]) -> list[str]:
    return sorted(set(roles), key=ROLES.index)


def _canonical_tags(tags: Iterable[str]) -> list[str]:
    return sorted(set(tags), key=HOUSEHOLD_TAGS.index)


# -- validating ---------------------------------------------------------------------------------------
@dataclass
class GridSpec:
    row: Row
    community_code: str
    community_name: str
    code: str
    name: str
    level: int
    parent: str | None
    neighbours: list[str]
    chat_ids: list[str]
    robot_key: str | None


@dataclass
class MemberSpec:
    row: Row
    name: str
    userid: str
    phone: str | None
    roles: list[str]
    grids: list[str]
    buildings: str | None
    partner: str | None
    on_duty: bool


@dataclass
class HouseholdSpec:
    row: Row
    grid: str
    building: str
    unit: str
    room: str
    head_name: str | None
    phone: str | None
    tags: list[str]


@dataclass
class Roster:
    grids: list[GridSpec]
    members: list[MemberSpec]
    households: list[HouseholdSpec]
    source: str = ""


@dataclass
class _Known:
    """What the database already holds, loaded once (no per-row queries)."""

    communities: dict[str, Community]
    grids: dict[str, Grid]
    chats: dict[str, GridChat]
    members: dict[str, Member]

    @classmethod
    def load(cls, session: Session) -> _Known:
        return cls(
            communities={c.code: c for c in session.scalars(select(Community))},
            grids={g.code: g for g in session.scalars(select(Grid).options(
                selectinload(Grid.chats), selectinload(Grid.neighbours)))},
            chats={c.chat_id: c for c in session.scalars(select(GridChat))},
            members={m.userid: m for m in session.scalars(select(Member).options(selectinload(Member.grid_links)))},
        )


def validate(session: Session, raw: RawRoster, scope: Scope | None = None) -> tuple[Roster, list[RowError]]:
    """Every row checked against the file, the database and the uploader's scope (None: the server's CLI, which
    may touch every community). Returns the parsed roster and all errors."""
    scope = scope or Scope.everything()
    known = _Known.load(session)
    errors: list[RowError] = []

    def bad(row: Row, reason: str, /, **kw: Any) -> None:
        errors.append(RowError(row.sheet, row.number, t(f"roster.err.{reason}", **kw)))

    grids = _validate_grids(raw.rows[SHEET_GRIDS], known, bad)
    # Rows that point at a grid row which is itself bad are not blamed again: one cause, one error.
    grid_community = {r.cells["code"]: r.cells["community_code"] for r in raw.rows[SHEET_GRIDS] if r.cells["code"]}
    for code, g in known.grids.items():
        grid_community.setdefault(code, next((c for c, v in known.communities.items() if v.id == g.community_id), ""))
    members = _validate_members(raw.rows[SHEET_MEMBERS], known, grid_community, bad,
                                one_community=len(scope.community_ids) == 1)
    households = _validate_households(raw.rows[SHEET_HOUSEHOLDS], grid_community, bad)
    if not scope.is_operator:
        grids, members, households = _within_scope(scope, known, grids, members, households, grid_community, bad)
    errors.sort(key=lambda e: (SHEETS.index(e.sheet) if e.sheet in SHEETS else -1, e.row))
    return Roster(grids, members, households, raw.source), errors


def _validate_grids(rows: list[Row], known: _Known, bad: Callable[..., None]) -> list[GridSpec]:
    specs: list[GridSpec] = []
    seen: dict[str, int] = {}
    community_names: dict[str, str] = {}
    chat_owner: dict[str, str] = {}
    for row in rows:
        c = row.cells
        ok = True
        for header, f in (("社区编码", "community_code"), ("网格编码", "code"), ("网格名称", "name")):
            if not c[f]:
                bad(row, "missing_cell", column=header)
                ok = False
        if not ok:
            continue
        code = c["code"]
        if not _CODE.fullmatch(code) or not _CODE.fullmatch(c["community_code"]):
            bad(row, "bad_code", value=code if not _CODE.fullmatch(code) else c["community_code"])
            continue
        if code in seen:
            bad(row, "duplicate", value=code, first=seen[code])
            continue
        seen[code] = row.number
        cname = c["community_name"] or (known.communities[c["community_code"]].name
                                        if c["community_code"] in known.communities else "")
        if not cname:
            bad(row, "missing_cell", column="社区名称")
            continue
        if community_names.setdefault(c["community_code"], cname) != cname:
            bad(row, "community_name_conflict", code=c["community_code"], name=community_names[c["community_code"]])
            continue
        parent = c["parent"] or None
        level_text = c["level"] or ("1" if parent is None else "2")
        if not re.fullmatch(r"[1-4]", level_text):
            bad(row, "bad_level", value=c["level"])
            continue
        if parent == code:
            bad(row, "parent_self", code=code)
            continue
        chat_ids = split_list(c["chat_ids"])
        dup_chat = False
        for chat in chat_ids:
            owner = chat_owner.setdefault(chat, code)
            bound = known.chats.get(chat)
            if owner != code:
                bad(row, "chat_twice", chat=chat, grid=owner)
                dup_chat = True
            elif bound is not None and bound.grid.code != code:
                bad(row, "chat_bound_elsewhere", chat=chat, grid=bound.grid.code)
                dup_chat = True
        if dup_chat:
            continue
        specs.append(GridSpec(row, c["community_code"], cname, code, c["name"], int(level_text), parent,
                              [n for n in split_list(c["neighbours"]) if n != code], chat_ids,
                              c["robot_key"] or None))
    # references: parents and neighbours must exist (in the file or the database), same community, no cycles
    by_code = {s.code: s for s in specs}
    all_codes = set(by_code) | set(known.grids) | {r.cells["code"] for r in rows if r.cells["code"]}
    valid = []
    for s in specs:
        if s.parent and s.parent not in all_codes:
            bad(s.row, "unknown_parent", code=s.parent)
            continue
        unknown = [n for n in s.neighbours if n not in all_codes]
        if unknown:
            bad(s.row, "unknown_neighbour", codes="、".join(unknown))
            continue
        if s.parent and _community_of(s.parent, by_code, known) not in (None, s.community_code):
            bad(s.row, "parent_other_community", code=s.parent)
            continue
        if s.parent and _has_cycle(s.code, by_code, known):
            bad(s.row, "parent_cycle", code=s.code)
            continue
        valid.append(s)
    return valid


def _within_scope(scope: Scope, known: _Known, grids: list[GridSpec], members: list[MemberSpec],
                  households: list[HouseholdSpec], grid_community: dict[str, str],
                  bad: Callable[..., None]) -> tuple[list[GridSpec], list[MemberSpec], list[HouseholdSpec]]:
    """Rows that reach outside the uploader's communities, or grant a role above their own, are refused by name.
    A secretary's import can neither create a community, nor re-parent, rename or link another community's grid,
    nor move, change or partner another community's member, nor write households into another community."""
    own = {code for code, c in known.communities.items() if scope.has_community(c.id)}
    member_community = {userid: m.community_id for userid, m in known.members.items()}
    kept_grids = []
    for s in grids:
        existing = known.grids.get(s.code)
        if s.community_code not in own:
            bad(s.row, "outside_community", code=s.community_code)
        elif existing is not None and not scope.has_community(existing.community_id):
            bad(s.row, "grid_other_community", code=s.code)
        elif [n for n in s.neighbours if grid_community.get(n) not in own]:
            bad(s.row, "neighbour_other_community",
                codes="、".join(n for n in s.neighbours if grid_community.get(n) not in own))
        else:
            kept_grids.append(s)
    kept_members = []
    for m in members:
        outside = [g for g in m.grids if grid_community.get(g) not in own]
        above = [r for r in m.roles if not scope.may_grant([r])]
        current = known.members.get(m.userid)
        if current is not None and not scope.has_community(current.community_id):
            bad(m.row, "member_other_community", userid=m.userid)
        elif current is not None and not scope.may_grant(current.roles or []):
            bad(m.row, "member_above", userid=m.userid)
        elif above:
            bad(m.row, "role_too_high", role="、".join(ROLE_LABELS.get(r, r) for r in above))
        elif outside:
            bad(m.row, "grid_outside", code="、".join(outside))
        elif m.partner and m.partner in member_community and not scope.has_community(member_community[m.partner]):
            bad(m.row, "partner_other_community", userid=m.partner)
        else:
            kept_members.append(m)
    kept_households = []
    for h in households:
        if grid_community.get(h.grid) not in own:
            bad(h.row, "grid_outside", code=h.grid)
        else:
            kept_households.append(h)
    return kept_grids, kept_members, kept_households


def _community_of(code: str, by_code: dict[str, GridSpec], known: _Known) -> str | None:
    if code in by_code:
        return by_code[code].community_code
    g = known.grids.get(code)
    if g is None:
        return None
    return next((c for c, v in known.communities.items() if v.id == g.community_id), None)


def _parent_of(code: str, by_code: dict[str, GridSpec], known: _Known) -> str | None:
    if code in by_code:
        return by_code[code].parent
    g = known.grids.get(code)
    if g is None or g.parent_id is None:
        return None
    return next((c for c, v in known.grids.items() if v.id == g.parent_id), None)


def _has_cycle(code: str, by_code: dict[str, GridSpec], known: _Known) -> bool:
    """True when `code` is on a loop of parents (a grid below a loop is not blamed for it)."""
    seen: set[str] = set()
    current = _parent_of(code, by_code, known)
    while current is not None and current not in seen:
        if current == code:
            return True
        seen.add(current)
        current = _parent_of(current, by_code, known)
    return False


def _validate_members(rows: list[Row], known: _Known, grid_community: dict[str, str],
                      bad: Callable[..., None], one_community: bool = False) -> list[MemberSpec]:
    specs: list[MemberSpec] = []
    seen: dict[str, int] = {}
    for row in rows:
        c = row.cells
        missing = [h for h, f in (("姓名", "name"), ("企业微信账号", "userid"), ("角色", "roles")) if not c[f]]
        if missing:
            bad(row, "missing_cell", column="、".join(missing))
            continue
        userid = c["userid"]
        if not _USERID.fullmatch(userid):
            bad(row, "bad_userid", value=userid)
            continue
        if userid in seen:
            bad(row, "duplicate", value=userid, first=seen[userid])
            continue
        seen[userid] = row.number
        roles: list[str] = []
        unknown_roles: list[str] = []
        for name in split_list(c["roles"]):
            (roles if name in ROLE_NAMES else unknown_roles).append(ROLE_NAMES.get(name, name))
        if unknown_roles:
            bad(row, "unknown_role", value="、".join(unknown_roles), known="、".join(ROLE_LABELS.values()))
            continue
        phone = None
        if c["phone"]:
            phone = norm_phone(c["phone"])
            if phone is None:
                bad(row, "bad_phone", column="手机号")
                continue
        grids = split_list(c["grids"])
        unknown_grids = [g for g in grids if g not in grid_community]
        if unknown_grids:
            bad(row, "unknown_grid", code="、".join(unknown_grids))
            continue
        if len({grid_community[g] for g in grids}) > 1:
            bad(row, "member_many_communities")
            continue
        if not grids and not (one_community or len(set(grid_community.values())) == 1 or userid in known.members):
            bad(row, "member_no_grid")
            continue
        on_duty_text = c["on_duty"].lower()
        if on_duty_text and on_duty_text not in YES | NO:
            bad(row, "bad_on_duty", value=c["on_duty"])
            continue
        partner = c["partner"] or None
        if partner == userid:
            bad(row, "partner_self")
            continue
        buildings = ",".join(norm_place(b, BUILDING_SUFFIXES) for b in split_list(c["buildings"]))
        specs.append(MemberSpec(row, c["name"], userid, phone, _canonical_roles(roles), grids, buildings or None,
                                partner, on_duty_text not in NO))
    userids = {s.userid for s in specs} | set(known.members)
    valid = []
    for s in specs:
        if s.partner and s.partner not in userids:
            bad(s.row, "partner_not_found", userid=s.partner)
            continue
        valid.append(s)
    return valid


def _validate_households(rows: list[Row], grid_community: dict[str, str],
                         bad: Callable[..., None]) -> list[HouseholdSpec]:
    specs: list[HouseholdSpec] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for row in rows:
        c = row.cells
        missing = [h for h, f in (("网格编码", "grid"), ("楼栋", "building"), ("室", "room")) if not c[f]]
        if missing:
            bad(row, "missing_cell", column="、".join(missing))
            continue
        if c["grid"] not in grid_community:
            bad(row, "unknown_grid", code=c["grid"])
            continue
        building, unit, room = normalise_address(c["building"], c["unit"], c["room"])
        key = (c["grid"], building, unit, room)
        if key in seen:
            bad(row, "duplicate_household", address=_address(building, unit, room), first=seen[key])
            continue
        seen[key] = row.number
        phone = None
        if c["phone"]:
            phone = norm_phone(c["phone"])
            if phone is None:
                bad(row, "bad_phone", column="联系电话")
                continue
        tags = split_list(c["tags"])
        unknown_tags = [x for x in tags if x not in HOUSEHOLD_TAGS]
        if unknown_tags:
            bad(row, "unknown_tag", value="、".join(unknown_tags), known="、".join(HOUSEHOLD_TAGS))
            continue
        specs.append(HouseholdSpec(row, c["grid"], building, unit, room, c["head_name"] or None, phone,
                                   _canonical_tags(tags)))
    return specs


def _address(building: str, unit: str, room: str) -> str:
    return place_text(building, unit, room)


# -- applying -----------------------------------------------------------------------------------------
def _set(obj: Any, **values: Any) -> bool:
    """Assign only what differs; True if anything changed (so a second import touches nothing)."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def apply(session: Session, roster: Roster, actor: str, now: datetime,
          progress: Callable[[int], None] | None = None, scope: Scope | None = None) -> ImportResult:
    """Upsert a roster validated for the same scope. The caller owns the transaction (commit, or roll back)."""
    scope = scope or Scope.everything()
    result = ImportResult()
    tick = progress or (lambda n: None)
    known = _Known.load(session)

    # communities and grids (two passes: rows first, then parents and neighbours, which may point forward)
    for spec in roster.grids:
        community = known.communities.get(spec.community_code)
        if community is None:
            community = Community(code=spec.community_code, name=spec.community_name, created_at=now)
            session.add(community)
            known.communities[spec.community_code] = community
        else:
            _set(community, name=spec.community_name)
    session.flush()
    status: dict[str, str] = {}   # grid code -> created | updated | unchanged
    for spec in roster.grids:
        community = known.communities[spec.community_code]
        grid = known.grids.get(spec.code)
        if grid is None:
            grid = Grid(community_id=community.id, code=spec.code, name=spec.name, level=spec.level, created_at=now)
            grid.neighbours, grid.chats = [], []
            session.add(grid)
            known.grids[spec.code] = grid
            status[spec.code] = "created"
        else:
            changed = _set(grid, community_id=community.id, name=spec.name, level=spec.level)
            status[spec.code] = "updated" if changed else "unchanged"
    session.flush()
    wanted_neighbours: dict[str, set[str]] = {s.code: set(s.neighbours) for s in roster.grids}
    for s in roster.grids:  # adjacency is mutual: a grid listed as a neighbour gets the lister back
        for n in s.neighbours:
            if n in wanted_neighbours:
                wanted_neighbours[n].add(s.code)
    for spec in roster.grids:
        grid = known.grids[spec.code]
        changed = _set(grid, parent_id=known.grids[spec.parent].id if spec.parent else None)
        if {g.code for g in grid.neighbours} != wanted_neighbours[spec.code]:
            grid.neighbours = [known.grids[n] for n in sorted(wanted_neighbours[spec.code])]
            changed = True
        have = {c.chat_id: c for c in grid.chats}
        for chat_id in spec.chat_ids:
            chat = have.get(chat_id)
            if chat is None:
                grid.chats.append(GridChat(chat_id=chat_id, name=f"{spec.name}群", robot_key=spec.robot_key,
                                           kind=CHAT_ROBOT_GROUP if spec.robot_key else CHAT_UNKNOWN,
                                           bound_by=actor, bound_at=now))
                changed = True
            elif spec.robot_key and chat.robot_key != spec.robot_key:
                chat.robot_key = spec.robot_key
                if chat.kind == CHAT_UNKNOWN:   # a group with a robot is an internal group with a robot
                    chat.kind = CHAT_ROBOT_GROUP
                changed = True
        if changed and status[spec.code] == "unchanged":
            status[spec.code] = "updated"
        tick(1)
    _count(result.counts[SHEET_GRIDS], status.values())
    session.flush()

    # members (partners in a second pass: a partner may appear later in the sheet)
    status = {}
    for spec in roster.members:
        member = known.members.get(spec.userid)
        community_id = (known.grids[spec.grids[0]].community_id if spec.grids else
                        member.community_id if member is not None else
                        min(scope.community_ids) if scope.community_ids else next(iter(known.communities.values())).id)
        if member is None:
            member = Member(community_id=community_id, name=spec.name, userid=spec.userid, phone=spec.phone,
                            roles=spec.roles, on_duty=spec.on_duty, active=True, created_at=now, updated_at=now)
            member.grid_links = []
            session.add(member)
            known.members[spec.userid] = member
            status[spec.userid] = "created"
            changed = False
        else:
            changed = _set(member, community_id=community_id, name=spec.name, phone=spec.phone,
                           roles=spec.roles, on_duty=spec.on_duty, active=True)
        wanted = {known.grids[g].id: spec.buildings for g in spec.grids}
        have = {link.grid_id: link for link in member.grid_links}
        for grid_id, link in have.items():
            if grid_id not in wanted:
                member.grid_links.remove(link)
                changed = True
        for grid_id, buildings in wanted.items():
            link = have.get(grid_id)
            if link is None:
                member.grid_links.append(MemberGrid(grid_id=grid_id, buildings=buildings))
                changed = True
            elif link.buildings != buildings:
                link.buildings = buildings
                changed = True
        status.setdefault(spec.userid, "updated" if changed else "unchanged")
    session.flush()
    for spec in roster.members:
        member = known.members[spec.userid]
        partner_id = known.members[spec.partner].id if spec.partner else None
        if member.partner_id != partner_id:
            member.partner_id = partner_id
            if status[spec.userid] == "unchanged":
                status[spec.userid] = "updated"
        if status[spec.userid] == "updated":
            member.updated_at = now
        tick(1)
    _count(result.counts[SHEET_MEMBERS], status.values())
    session.flush()

    # households, keyed by grid + building + unit + room
    grid_ids = {known.grids[s.grid].id for s in roster.households}
    existing = {(h.grid_id, h.building, h.unit, h.room): h for h in session.scalars(
        select(Household).where(Household.grid_id.in_(grid_ids)))} if grid_ids else {}
    created: list[tuple[str, Household]] = []
    for spec in roster.households:
        grid_id = known.grids[spec.grid].id
        household = existing.get((grid_id, spec.building, spec.unit, spec.room))
        if household is None:
            household = Household(grid_id=grid_id, building=spec.building, unit=spec.unit, room=spec.room,
                                  head_name=spec.head_name, phone=spec.phone, tags=spec.tags, status="active",
                                  created_at=now, updated_at=now, updated_by=actor)
            session.add(household)
            existing[(grid_id, spec.building, spec.unit, spec.room)] = household
            created.append((spec.grid, household))
            result.counts[SHEET_HOUSEHOLDS].created += 1
        else:
            before = {"head_name": household.head_name, "phone": household.phone, "tags": list(household.tags or [])}
            if _set(household, head_name=spec.head_name, phone=spec.phone, tags=spec.tags):
                household.updated_at, household.updated_by = now, actor
                result.counts[SHEET_HOUSEHOLDS].updated += 1
                changed = sorted(k for k, v in before.items() if getattr(household, k) != v)
                audit.record(session, actor, "household.update", "household", household.id,
                             {"source": "roster", "grid": spec.grid, "address": household.address,
                              "fields": changed}, at=now)
            else:
                result.counts[SHEET_HOUSEHOLDS].unchanged += 1
        tick(1)
    session.flush()  # one flush for all new households: their ids for the audit trail
    for grid_code, household in created:
        audit.record(session, actor, "household.create", "household", household.id,
                     {"source": "roster", "grid": grid_code, "address": household.address}, at=now)
    audit.record(session, actor, "roster.import", "roster", None,
                 {"source": Path(roster.source.split(",")[0]).name if roster.source else "", **result.as_dict()},
                 at=now)
    return result


def _count(counts: Counts, statuses: Iterable[str]) -> None:
    for st in statuses:
        setattr(counts, st, getattr(counts, st) + 1)


def import_roster(session: Session, raw: RawRoster, actor: str, now: datetime,
                  progress: Callable[[int], None] | None = None, scope: Scope | None = None) -> ImportResult:
    """Validate everything, then apply everything; with any bad row nothing is written and the errors return.
    `scope` is the uploader's (a secretary: their community, roles up to their own); None is the server's CLI."""
    roster, errors = validate(session, raw, scope)
    if errors:
        return ImportResult(errors=errors)
    return apply(session, roster, actor, now, progress, scope)


# -- chat identities for the demo and the simulator ------------------------------------------------------
def bind_resident(session: Session, platform: str, user_id: str, name: str, grid_code: str | None,
                  building: str | None = None, unit: str = "", room: str | None = None, *, actor: str,
                  now: datetime) -> ChatIdentity:
    """A resident's chat identity, in their grid's group, speaking for a household when one is given (演示居民)."""
    identity = session.scalar(select(ChatIdentity).where(ChatIdentity.platform == platform,
                                                         ChatIdentity.user_id == user_id))
    if identity is None:
        identity = ChatIdentity(platform=platform, user_id=user_id, display_name=name, created_at=now)
        session.add(identity)
        session.flush()
    grid = session.scalar(select(Grid).where(Grid.code == grid_code)) if grid_code else None
    if grid is None:
        return identity
    for chat in grid.chats:
        open_stay = session.scalar(select(ChatMembership).where(
            ChatMembership.chat_id == chat.chat_id, ChatMembership.identity_id == identity.id,
            ChatMembership.left_at.is_(None)))
        if open_stay is None:
            session.add(ChatMembership(chat_id=chat.chat_id, identity_id=identity.id, joined_at=now, source="manual"))
    if building and room:
        household = session.scalar(select(Household).where(
            Household.grid_id == grid.id, Household.building == building, Household.unit == unit,
            Household.room == room))
        if household is None:
            raise ValueError(f"no household {grid_code} {_address(building, unit, room)}")
        bound = session.scalar(select(HouseholdBinding).where(
            HouseholdBinding.household_id == household.id, HouseholdBinding.identity_id == identity.id,
            HouseholdBinding.status == "active"))
        if bound is None:
            session.add(HouseholdBinding(household_id=household.id, identity_id=identity.id, status="active",
                                         requested_at=now, requested_by=actor, decided_at=now, decided_by=actor))
            session.flush()
            audit.record(session, actor, "household.bind", "household", household.id,
                         {"user_id": user_id, "platform": platform}, at=now)
    return identity


def directory(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Who can be picked in the simulator: grids with their chats, members with roles, residents with households."""
    grids = [{"code": g.code, "name": g.name, "level": g.level, "chat_ids": sorted(c.chat_id for c in g.chats)}
             for g in session.scalars(select(Grid).options(selectinload(Grid.chats)).order_by(Grid.level, Grid.code))]
    members = [{"userid": m.userid, "name": m.name, "roles": [ROLE_LABELS.get(r, r) for r in m.roles or []],
                "grids": sorted(link.grid.code for link in m.grid_links), "on_duty": m.on_duty}
               for m in session.scalars(select(Member).where(Member.active.is_(True))
                                        .options(selectinload(Member.grid_links).selectinload(MemberGrid.grid))
                                        .order_by(Member.id))]
    member_ids = {m["userid"] for m in members}
    residents = []
    for identity in session.scalars(select(ChatIdentity).order_by(ChatIdentity.id)):
        if identity.user_id in member_ids:
            continue
        homes = session.scalars(select(Household).join(HouseholdBinding).where(
            HouseholdBinding.identity_id == identity.id, HouseholdBinding.status == "active")
            .options(selectinload(Household.grid))).all()
        residents.append({"userid": identity.user_id, "name": identity.display_name or identity.user_id,
                          "households": [f"{h.grid.name} {h.address}" for h in homes]})
    return {"grids": grids, "members": members, "residents": residents}

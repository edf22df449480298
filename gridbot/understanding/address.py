"""Addresses as residents write them (3栋2单元101, 3号楼2单元101室, 3-2-101, 9#3-601, 5号楼1门203, C座1201,
二十一栋三单元五零二, 十一号楼, 3幢, 二期A区3栋).

Normalised to building / unit / room as Arabic-digit strings (a lettered tower keeps its letter, uppercased: c座 -> C),
plus the phase (期) and zone (区) of a large estate as their own fields. Chinese numerals go through cn2an (cached:
the same few numerals repeat in every group). Used by the understanding of resident messages and by the
members' commands (登记, 走访, 未覆盖) that take an address argument.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cn2an

from ..places import place_text
from .needs import chars_needed

CN_DIGITS = "零〇一二两三四五六七八九十百幺"
# Financial numerals (壹贰叁) as some people and input methods write them.
_FINANCIAL = str.maketrans("壹贰叁肆伍陆柒捌玖拾佰", "一二三四五六七八九十百")
_FINANCIAL_CHARS = frozenset("壹贰叁肆伍陆柒捌玖拾佰")
_NUM = rf"(?:\d{{1,4}}|[{CN_DIGITS}]{{1,5}})"
_ROOM_CN = "零〇一二三四五六七八九幺"

# building: 3栋 / 3号楼 / 3号栋 / 3幢 / 3座 / 3#楼 / 3# ; "3楼" and "3号" only when a unit follows (else: floor, date).
# A lettered tower (C座, b栋) is a building too; a letter alone (浙A12345, a car plate) is not.
# A range or list of buildings (1-6号楼, 5、6、7号楼) is no one building. "三栋楼" in Chinese numerals is a count
# (隔着三栋楼, 一栋楼的阳台) unless a part of the building follows (三栋楼道灯, 三栋楼下).
_BSUFFIX = rf"(?:号楼|号栋|号幢|栋|幢|座|#楼?|(?:号|楼)(?=\s*{_NUM}\s*(?:单元|门\s*\d)))"
_BUILDING = (rf"(?:(?<![A-Za-z\d])(?P<bl>[A-Za-z])\s*(?:座|栋|幢|号楼)|"
             rf"(?<![\d、~～至到-])(?P<b>\d{{1,4}})\s*(?:栋楼|{_BSUFFIX})(?!\s*[-~～至到、]\s*\d)|"
             rf"(?<![{CN_DIGITS}、])(?P<bc>[{CN_DIGITS}]{{1,5}})\s*(?:栋(?=楼[道梯下上顶前后里门口])|{_BSUFFIX})"
             rf"(?!楼(?![道梯下上顶前后里门口])))")
# 门 means unit when a room follows it or a building precedes it ("5号楼1门203"); "2号门", "北门", "1门口" are gates.
# a unit number has one or two digits: "1101单元门" is room 1101 and the building's entrance door
_UNIT = rf"(?P<u>(?<!\d)\d{{1,2}}(?!\d)|[{CN_DIGITS}]{{1,3}})\s*(?:单元|门(?![口卫岗外前里禁]))"
# 五零一一楼: room 501 on the 1st floor
_ROOM = rf"(?P<r>\d{{3,4}}(?!\d)|[{_ROOM_CN}]{{3,4}}(?!层|楼(?![道梯上下顶])))(?:\s*(?:室|号|房))?"
# "9#3-601": after a building, unit and room joined by a dash.
_UNIT_DASH_ROOM = r"(?P<du>\d{1,2})\s*[-—–]\s*(?P<dr>\d{3,4})(?![\d.:/-])"

_FULL_RE = re.compile(
    rf"{_BUILDING}(?:[\s,，-]*{_UNIT_DASH_ROOM}|(?:[\s,，-]*{_UNIT})?(?:[\s,，-]*(?:的|之)?{_ROOM})?)"
)
# "：" becomes ":" under NFKC (巡查记录：4-4-1101); a time like 8:30 never has three dashed parts with a room.
_DASH_RE = re.compile(r"(?<![\d./-])(?P<b>\d{1,3})\s*[-—–]\s*(?P<u>\d{1,2})\s*[-—–]\s*(?P<r>\d{3,4})(?![\d.:/-])")
_DASH_UNIT_RE = re.compile(r"(?<![\d./-])(?P<b>\d{1,3})\s*[-—–]\s*(?P<u>\d{1,2})\s*单元")   # 5-2单元
_UNIT_ROOM_RE = re.compile(
    rf"(?P<u>(?<!\d)\d{{1,2}}(?!\d)|[{CN_DIGITS}]{{1,3}})\s*单元(?:[\s,，-]*{_ROOM})?|(?<!\d)(?P<u2>{_NUM})\s*门\s*(?P<r3>\d{{3,4}})(?!\d)")
_ROOM_ONLY_RE = re.compile(
    r"(?:(?<=楼上)|(?<=楼下)|(?<=隔壁)|(?<=对门)|(?<=住))(?P<r>\d{3,4})(?!\d)|(?<!\d)(?P<r2>\d{3,4})\s*(?:室|房间)"
)
# Phase: 二期 / 2期 (not 第二期, a newsletter's issue; not 3期间). Zone: A区 / 3区 / 东区 — not 小区, 社区, and
# not a city district (江北区, 西湖区): a compass zone must start the text or follow a space, punctuation, 期 or a
# word like 住.
_PHASE_RE = re.compile(rf"(?<![第\d{CN_DIGITS}])(?P<p>\d{{1,2}}|[一二三四五六七八九十]{{1,3}})\s*期(?![间限待望货刊])")
_ZONE_RE = re.compile(
    r"(?:(?<![A-Za-z\d])(?P<z>[A-Za-z]|\d{1,2})|"
    r"(?:(?<=^)|(?<=[\s,，。.!！?？:：期住在是的咱们到了】)）])|(?<=我们)|(?<=小区))(?P<zc>[东西南北中]))\s*区"
    r"(?![域别间块])"
)
_HINT_RE = re.compile(r"[\d栋幢单元楼座#室门期区]")  # (楼 also covers 号楼 in financial numerals)


def _guarded(rx: re.Pattern[str]) -> Callable[[str], re.Match[str] | None]:
    """rx.search, skipped (None) on a text that holds none of the characters rx needs (gridbot.understanding.needs):
    most messages hold no address, and the check costs a fraction of the search."""
    needs = chars_needed(rx)
    if not needs:
        return rx.search
    search, disjoint = rx.search, needs.isdisjoint

    def guarded(text: str) -> re.Match[str] | None:
        return None if disjoint(text) else search(text)

    return guarded


_full_search = _guarded(_FULL_RE)
_dash_search = _guarded(_DASH_RE)
_dash_unit_search = _guarded(_DASH_UNIT_RE)
_unit_room_search = _guarded(_UNIT_ROOM_RE)
_room_only_search = _guarded(_ROOM_ONLY_RE)
_PHONE_RE = re.compile(r"(?<!\d)(?:1[3-9]\d[ -]?\d{4}[ -]?\d{4}|0\d{2,3}-\d{7,8})(?!\d)")


@dataclass(frozen=True)
class Address:
    """Where a message is about. Every part is an Arabic-digit string or None; a lettered tower's building is its
    uppercase letter ("C"), a zone its letter, digits or compass word ("A", "3", "东"). phase and zone come last so
    that positional callers (Address(building, unit, room)) keep working."""

    building: str | None = None
    unit: str | None = None
    room: str | None = None
    phase: str | None = None
    zone: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.building or self.unit or self.room or self.phase or self.zone)

    @property
    def has_place(self) -> bool:
        """A building, unit or room is known (a phase or zone alone names no household)."""
        return bool(self.building or self.unit or self.room)

    def to_dict(self) -> dict[str, str | None]:
        return {"building": self.building, "unit": self.unit, "room": self.room, "phase": self.phase,
                "zone": self.zone}

    def __str__(self) -> str:
        estate = (f"{self.phase}期" if self.phase else "") + (f"{self.zone}区" if self.zone else "")
        return estate + place_text(self.building, self.unit, self.room)


EMPTY = Address()


@lru_cache(maxsize=4096)
def cn_number(token: str) -> str | None:
    """'二十一' -> '21', '五零二' -> '502', '12' -> '12'. None when it is not a number."""
    if token.isdigit():
        return str(int(token))
    token = token.replace("幺", "一").replace("〇", "零")
    try:
        value = cn2an.cn2an(token, "smart")
    except (ValueError, KeyError, IndexError):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    return str(value) if value > 0 else None


def _room(raw: str | None) -> str | None:
    """Rooms keep their digits as written ('0502' stays '0502'); Chinese digits are read one by one."""
    if not raw:
        return None
    if raw.isdigit():
        return raw
    return cn_number(raw)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _zone(m: re.Match[str]) -> str:
    if m.group("zc"):
        return m.group("zc")
    raw = m.group("z")
    return raw.upper() if raw.isalpha() else str(int(raw))


def _place(text: str) -> tuple[Address, int, int] | None:
    """Building / unit / room only: the first form found, in order of how much each form says."""
    m = _full_search(text)
    if m:
        building = m.group("bl").upper() if m.group("bl") else cn_number(m.group("b") or m.group("bc"))
        if building:
            if m.group("du"):
                return Address(building, str(int(m.group("du"))), m.group("dr")), m.start(), m.end()
            unit = cn_number(m.group("u")) if m.group("u") else None
            return Address(building, unit, _room(m.group("r"))), m.start(), m.end()
    m = _dash_search(text)
    if m:
        return Address(str(int(m.group("b"))), str(int(m.group("u"))), m.group("r")), m.start(), m.end()
    m = _dash_unit_search(text)
    if m:
        return Address(str(int(m.group("b"))), str(int(m.group("u")))), m.start(), m.end()
    m = _unit_room_search(text)
    if m:
        if m.group("u2"):
            unit = cn_number(m.group("u2"))
            if unit:
                return Address(None, unit, m.group("r3")), m.start(), m.end()
        else:
            unit = cn_number(m.group("u"))
            if unit:
                return Address(None, unit, _room(m.group("r"))), m.start(), m.end()
    m = _room_only_search(text)
    if m:
        return Address(None, None, m.group("r") or m.group("r2")), m.start(), m.end()
    return None


def locate_address(text: str) -> tuple[Address, int, int] | None:
    """The first address in (normalised) text and where it is: (address, start, end); None if there is none.

    Commands that take an address followed by free text (走访 3栋2单元101 老人身体好) use the span to split. A phase
    or zone written just before the building (二期3栋, A区 5号楼) is part of the span; one written elsewhere in the
    message still fills its field.
    """
    if not _HINT_RE.search(text):
        return None
    if not _FINANCIAL_CHARS.isdisjoint(text):
        text = text.translate(_FINANCIAL)   # 叁号楼壹单元: one character for one, so spans stay put
    found = _place(text)
    phase = zone = None
    start = end = -1
    if "期" in text:
        pm = _PHASE_RE.search(text)
        if pm:
            value = cn_number(pm.group("p"))
            if value:
                phase, start, end = value, pm.start(), pm.end()
    if "区" in text:
        zm = _ZONE_RE.search(text)
        if zm:
            zone = _zone(zm)
            start = zm.start() if start < 0 else min(start, zm.start())
            end = max(end, zm.end())
    if found is None:
        if phase is None and zone is None:
            return None
        return Address(phase=phase, zone=zone), start, end
    address, a_start, a_end = found
    if phase is None and zone is None:
        return address, a_start, a_end
    # The estate part joins the span only when nothing but spaces (or 的) lies between it and the building.
    if end <= a_start and not text[end:a_start].strip(" ，,的"):
        a_start = start
    return Address(address.building, address.unit, address.room, phase, zone), a_start, a_end


def find_address(text: str) -> Address:
    """The first address found in (normalised) free text, or an empty Address."""
    found = locate_address(text)
    return found[0] if found else EMPTY


def _without_phones(text: str) -> str:
    """Phone digits replaced by spaces of the same length, so spans stay put and 138… is never a room."""
    return _PHONE_RE.sub(lambda m: " " * len(m.group(0)), text)


def parse_address(text: str) -> Address | None:
    """An address argument of a command ('3栋2单元101', '3-2-101', '十栋一单元', '3幢', '二期C座1201'); None if
    there is none. A phase or zone alone ('二期') names no household: None too, so a command asks for the address."""
    if not text:
        return None
    address = find_address(_without_phones(_normalise(text)))
    return address if address.has_place else None

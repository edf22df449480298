"""Addresses as residents write them (3栋2单元101, 3号楼2单元101室, 3-2-101, 二十一栋三单元五零二, 3幢).

Normalised to building / unit / room as Arabic-digit strings. Chinese numerals go through cn2an (cached:
the same few numerals repeat in every group). Used by the understanding of resident messages and by the
members' commands (登记, 走访, 未覆盖) that take an address argument.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import cn2an

from ..places import place_text

CN_DIGITS = "零〇一二两三四五六七八九十百幺"
_NUM = rf"(?:\d{{1,4}}|[{CN_DIGITS}]{{1,5}})"
_ROOM_CN = "零〇一二三四五六七八九幺"

# building: 3栋 / 3号楼 / 3号栋 / 3幢 / 3座 / 3#楼 / 3# ; "3楼" and "3号" only when a unit follows (else: floor, date).
_BUILDING = rf"(?<!\d)(?P<b>{_NUM})\s*(?:号楼|号栋|号幢|栋楼|栋|幢|座|#楼?|＃楼?|(?:号|楼)(?=\s*{_NUM}\s*单元))"
_UNIT = rf"(?P<u>{_NUM})\s*单元"
_ROOM = rf"(?P<r>\d{{3,4}}|[{_ROOM_CN}]{{3,4}})(?!\d)(?:\s*(?:室|号|房))?"

_FULL_RE = re.compile(
    rf"{_BUILDING}(?:[\s,，-]*{_UNIT})?(?:[\s,，-]*(?:的|之)?{_ROOM})?"
)
_DASH_RE = re.compile(r"(?<![\d.:/-])(?P<b>\d{1,3})\s*[-—–]\s*(?P<u>\d{1,2})\s*[-—–]\s*(?P<r>\d{3,4})(?![\d.:/-])")
_UNIT_ROOM_RE = re.compile(rf"{_UNIT}(?:[\s,，-]*{_ROOM})?")
_ROOM_ONLY_RE = re.compile(
    r"(?:(?<=楼上)|(?<=楼下)|(?<=隔壁)|(?<=对门)|(?<=住))(?P<r>\d{3,4})(?!\d)|(?<!\d)(?P<r2>\d{3,4})\s*(?:室|房间)"
)
_HINT_RE = re.compile(r"[\d栋幢单元楼座#室]")
_PHONE_RE = re.compile(r"(?<!\d)(?:1[3-9]\d[ -]?\d{4}[ -]?\d{4}|0\d{2,3}-\d{7,8})(?!\d)")


@dataclass(frozen=True)
class Address:
    """Where a message is about. Every part is an Arabic-digit string or None."""

    building: str | None = None
    unit: str | None = None
    room: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.building or self.unit or self.room)

    def to_dict(self) -> dict[str, str | None]:
        return {"building": self.building, "unit": self.unit, "room": self.room}

    def __str__(self) -> str:
        return place_text(self.building, self.unit, self.room)


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


def locate_address(text: str) -> tuple[Address, int, int] | None:
    """The first address in (normalised) text and where it is: (address, start, end); None if there is none.

    Commands that take an address followed by free text (走访 3栋2单元101 老人身体好) use the span to split.
    """
    if not _HINT_RE.search(text):
        return None
    m = _FULL_RE.search(text)
    if m:
        building = cn_number(m.group("b"))
        if building:
            unit = cn_number(m.group("u")) if m.group("u") else None
            return Address(building, unit, _room(m.group("r"))), m.start(), m.end()
    m = _DASH_RE.search(text)
    if m:
        return Address(str(int(m.group("b"))), str(int(m.group("u"))), m.group("r")), m.start(), m.end()
    m = _UNIT_ROOM_RE.search(text)
    if m:
        unit = cn_number(m.group("u"))
        if unit:
            return Address(None, unit, _room(m.group("r"))), m.start(), m.end()
    m = _ROOM_ONLY_RE.search(text)
    if m:
        return Address(None, None, m.group("r") or m.group("r2")), m.start(), m.end()
    return None


def find_address(text: str) -> Address:
    """The first address found in (normalised) free text, or an empty Address."""
    found = locate_address(text)
    return found[0] if found else EMPTY


def _without_phones(text: str) -> str:
    """Phone digits replaced by spaces of the same length, so spans stay put and 138… is never a room."""
    return _PHONE_RE.sub(lambda m: " " * len(m.group(0)), text)


def parse_address(text: str) -> Address | None:
    """An address argument of a command ('3栋2单元101', '3-2-101', '十栋一单元', '3幢'); None if there is none."""
    if not text:
        return None
    address = find_address(_without_phones(_normalise(text)))
    return None if address.is_empty else address

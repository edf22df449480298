"""Masking of personal data (个人信息保护法): phone and ID numbers never reach group replies or logs."""
from __future__ import annotations

import logging
import re

# Mainland mobile numbers (11 digits starting 1[3-9]), optionally written with spaces or dashes,
# landlines like 0571-88886666, and 18-character resident ID numbers.
_ID_RE = re.compile(r"(?<!\d)(\d{6})(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)")
_MOBILE_RE = re.compile(r"(?<!\d)(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
_LANDLINE_RE = re.compile(r"(?<!\d)(0\d{2,3})-?(\d{7,8})(?!\d)")


def mask_phone(phone: str | None) -> str:
    """'13812345678' -> '138****5678'. Empty stays empty."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) >= 7:
        return digits[:3] + "****" + digits[-4:]
    return "****"


def shown_phone(phone: str | None, entitled: bool) -> str:
    """A resident's phone as a page or the API shows it: in full to people entitled to it, masked for others."""
    if not phone:
        return ""
    return phone if entitled else mask_phone(phone)


def mask_text(text: str) -> str:
    """Mask every phone or ID number inside free text."""
    text = _ID_RE.sub(lambda m: m.group(1) + "********" + m.group(0)[-4:], text)
    text = _MOBILE_RE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
    text = _LANDLINE_RE.sub(lambda m: m.group(1) + "-****" + m.group(2)[-2:], text)
    return text


# A flat named down to the room: "3栋1单元302(室)", "3号楼2单元302", "3-1-302"; and a unit/room without building.
_CN_NUM = "一二三四五六七八九十"
_FLAT_RE = re.compile(rf"(\d+)\s*(栋|幢|号楼|座)\s*(?:(?:\d+|[{_CN_NUM}]+)\s*单元)?\s*(?:\d{{1,2}}\s*(?:楼|层))?"
                      r"\s*(?:\d{3,4}(?!\d)\s*(?:室|号|房)?)?")
_DASHED_RE = re.compile(r"(?<![\d-])(\d{1,3})-\d{1,2}-\d{3,4}(?![\d-])")
_UNIT_ROOM_RE = re.compile(rf"(?:(?:\d+|[{_CN_NUM}]+)\s*单元)\s*(?:\d{{3,4}}(?!\d)\s*(?:室|号|房)?)?"
                           r"|(?<!\d)\d{3,4}\s*(?:室|房)")


def _building_only(found: re.Match[str]) -> str:
    """The building of a flat; a space when the words after it would otherwise run on ("3栋 燃气软管")."""
    head = f"{found.group(1)}{found.group(2)}" if found.lastindex and found.lastindex >= 2 else f"{found.group(1)}栋"
    rest = found.string[found.end():found.end() + 1]
    shortened = found.group(0).strip() != head
    return head + (" " if shortened and rest and not re.match(r"[\s,，。.;；:：!！?？、）)的里内]", rest) else "")


def group_text(text: str) -> str:
    """What a group may read of a member's note: phones and IDs masked, and a flat named by its building only
    ("3栋1单元302燃气软管老化已更换" -> "3栋 燃气软管老化已更换"). The full note stays in the ticket."""
    text = mask_text(text or "")
    text = _FLAT_RE.sub(_building_only, text)
    text = _DASHED_RE.sub(lambda m: _building_only(m), text)
    text = _UNIT_ROOM_RE.sub("", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


class MaskingFilter(logging.Filter):
    """A logging filter that masks phone and ID numbers in every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(isinstance(f, MaskingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(MaskingFilter())
        root.addHandler(handler)
    root.setLevel(level)

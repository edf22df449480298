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

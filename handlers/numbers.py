"""One way to read a number a person typed as the id of a row (`确认 12`, `取消提醒 #3`, `转工单 5`).

The id columns are 32-bit integers on PostgreSQL: `确认 99999999999999999999` once reached the database and failed
there (integer out of range). A number no row can have is answered here, as a "not found", before any query.
"""
from __future__ import annotations

import re

from gridbot.ids import is_id
from gridbot.router import UsageError

_ID = re.compile(r"#?\s*([0-9]+)")


class NoSuchNumber(UsageError):
    """A number beyond any id's range: the router answers it like bad arguments, naming the number."""


def parse_id(text: str | None) -> int | None:
    """'12', '#12', '# 12' -> 12; anything else -> None (the caller says what it expected).

    Only ASCII digits count (after the router's NFKC they are what people type). A number above ID_MAX (or 0)
    matches no row: NoSuchNumber, the Chinese "no such number" with the command's usage.
    """
    m = _ID.fullmatch((text or "").strip())
    if m is None:
        return None
    digits = m.group(1)
    significant = digits.lstrip("0")
    value = int(significant or "0") if len(significant) <= 10 else 0   # never int() a thousand digits
    if not is_id(value):
        raise NoSuchNumber("numbers.no_such", number=_shown(digits))
    return value


def _shown(digits: str) -> str:
    """The number as the reply repeats it: a long one is cut, not echoed in full."""
    return digits if len(digits) <= 24 else digits[:20] + "…"

"""The range of every id column: PostgreSQL INTEGER. A number outside it names no row, wherever it was typed.

The chat (gridbot.handlers.numbers.parse_id) and the web (gridbot.web.converters.IdConverter) check it before any
query, so a 20-digit number is "not found" instead of an overflow in the database.
"""
from __future__ import annotations

ID_MAX = 2**31 - 1


def is_id(value: int) -> bool:
    """Whether a row could have this id."""
    return 1 <= value <= ID_MAX

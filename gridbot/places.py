"""How a place is written for people: "3栋2单元101". One function, so tickets, households and the parser agree."""
from __future__ import annotations


def place_text(building: str | None, unit: str | None, room: str | None) -> str:
    """Building/unit/room as people write them; the parts that are unknown are left out ("" when none is known)."""
    return (f"{building}栋" if building else "") + (f"{unit}单元" if unit else "") + (room or "")

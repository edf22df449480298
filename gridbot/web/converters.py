"""URL converters create_app installs: `<int:...>` in every route matches only an id a row can have.

A 20-digit id (`/console/reminders/99999999999999999999/cancel`) then answers 404 like any unknown id, instead of
reaching PostgreSQL and overflowing its INTEGER column (500). One converter covers every route, present and future.
"""
from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, ValidationError

from ..ids import ID_MAX


class IdConverter(IntegerConverter):
    """Werkzeug's int converter with the id columns' bounds by default (a route may still narrow them)."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,  # werkzeug's names
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=0 if min is None else min,
                         max=ID_MAX if max is None else max, signed=signed)

    def to_python(self, value: str) -> Any:
        if len(value.lstrip("0")) > len(str(ID_MAX)):   # never int() a thousand digits

            raise ValidationError()
        return super().to_python(value)

"""The ticket service's refusal: a Refusal whose key is always under tickets.errors."""
from __future__ import annotations

from typing import Any

from ...errors import Refusal


class TicketError(Refusal):
    """A ticket rule said no. `TicketError("not_found", ref="7")` carries "tickets.errors.not_found" + values;
    whoever shows it renders `.text`."""

    def __init__(self, key: str, **values: Any):
        super().__init__(f"tickets.errors.{key}", **values)

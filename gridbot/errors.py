"""The one kind of expected "no": a template key plus its values.

A service raises `Refusal("tickets.errors.not_found", number=7)` when a rule says no; whoever shows it to a person
(the router in a chat, a console page, the API, the CLI) renders `err.text` from config/templates.yaml. Areas may
subclass it to be caught narrowly (`TicketRefusal`), but never carry text built at raise time.
An unexpected error is not a Refusal: it is logged with an id, and the person is told that id (`router.unexpected`).
"""
from __future__ import annotations

import logging
import secrets
import traceback
from datetime import date, datetime, tzinfo
from typing import Any

from .privacy import mask_text
from .texts import t

WEEKDAYS = "一二三四五六日"


class Refusal(Exception):
    """A rule said no. `key` is a dotted templates.yaml key; `values` fill its placeholders."""

    def __init__(self, key: str, **values: Any):
        super().__init__(key)
        self.key = key
        self.values = values

    @property
    def text(self) -> str:
        """The Chinese sentence a person reads (times in the zone they carry)."""
        return self.render()

    def render(self, tz: tzinfo | None = None) -> str:
        """The sentence, with date values as people read them and times shown in `tz` (Settings.tz)."""
        return t(self.key, **{k: _shown(v, tz) for k, v in self.values.items()})

    def __str__(self) -> str:
        return f"{self.key} {self.values}" if self.values else self.key


def log_unexpected(logger: logging.Logger, err: BaseException, where: str) -> str:
    """Log an unexpected error once, with its traceback, under a short id that the person is shown. The traceback
    is part of the message, so the logs' phone/ID masking covers what the exception says too."""
    error_id = secrets.token_hex(4)
    trace = "".join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip()
    logger.error("unexpected error %s in %s\n%s", error_id, where, mask_text(trace))
    return error_id


def _shown(value: Any, tz: tzinfo | None) -> Any:
    if isinstance(value, datetime):
        at = value.astimezone(tz) if tz is not None and value.tzinfo is not None else value
        return t("refusal.moment", month=at.month, day=at.day, hm=at.strftime("%H:%M"))
    if isinstance(value, date):
        return t("refusal.day", month=value.month, day=value.day, weekday=WEEKDAYS[value.weekday()])
    return value

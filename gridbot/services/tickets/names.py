"""The words people see for a ticket's codes (config/templates.yaml), and the category list (config/categories.yaml).

Used by the notifications the service writes and by every place that shows a ticket (chat, console, API)."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ...clock import local
from ...config import ConfigError
from ...models import Ticket
from ...texts import t
from ...understanding import get_understander

OTHER = "other"


def category_codes() -> tuple[str, ...]:
    """Every ticket category: the categories of config/categories.yaml in their order, then "other" (a request
    that names none). The one list the chat, the console's filter, the API and its OpenAPI document use."""
    return tuple(get_understander().categories) + (OTHER,)


def category_name(code: str | None) -> str:
    try:
        return t(f"tickets.categories.{code or OTHER}")
    except ConfigError:
        return code or ""


def status_name(status: str) -> str:
    return t(f"tickets.statuses.{status}")


def rating_name(rating: str | None) -> str:
    return t(f"tickets.ratings.{rating}") if rating else ""


def building_text(ticket: Ticket) -> str:
    """What the group may see of the place: the building only."""
    return t("tickets.building", building=ticket.building) if ticket.building else t("tickets.no_building")


def minutes_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 60 and minutes % 60 == 0:
        return t("tickets.hours", n=minutes // 60)
    return t("tickets.minutes", n=minutes)


def phone_line(ticket: Ticket) -> str:
    """The contact line of a member's notice, or nothing at all when the resident left no number."""
    return "\n" + t("tickets.detail.phone", phone=ticket.contact_phone) if ticket.contact_phone else ""


def fmt_time(dt: datetime | None, tz: ZoneInfo) -> str:
    return local(dt, tz).strftime("%m-%d %H:%M") if dt else "-"


def actor_name(actor: str, member_names: dict[str, str]) -> str:
    """Who did a step of the timeline: the member's name (userid if unknown), 居民 or 系统.
    `member_names` maps userid -> name (queries.member_names loads it for a ticket's events in one query)."""
    kind, _, uid = actor.partition(":")
    if kind == "member":
        return member_names.get(uid, uid)
    if kind == "resident":
        return t("tickets.resident")
    return t("tickets.system")

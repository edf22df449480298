"""提醒 / 提醒列表 / 取消提醒: reminders in the Chinese people write, one-off or recurring."""
from __future__ import annotations

import re
import unicodedata

from gridbot.handlers.numbers import parse_id
from gridbot.messages import Reply
from gridbot.router import STAFF, Command, Context, Router, UsageError
from gridbot.schedule.config import load_config
from gridbot.schedule.parse import ScheduleError, parse
from gridbot.services import reminders as service
from gridbot.services.announcements import covers_community
from gridbot.texts import t

GROUP_WORDS = ("本群", "群里", "本网格", "全网格", "大家", "各位")  # "提醒大家明天停水" is for the group
COMMUNITY_WORDS = ("全社区",)
# Staff only, privately: a meeting reminder for grid members must not be posted into the residents' groups.
STAFF_WORDS = {"members": ("全体网格员", "所有网格员", "网格员们"), "leaders": ("各网格长", "全体网格长", "网格长们")}
NOTES = ("fifth_week", "short_month", "leap_day", "workdays", "china_workdays", "default_time")


def _strip_prefix(text: str, words: tuple[str, ...]) -> tuple[bool, str]:
    for w in words:
        if text.startswith(w):
            return True, text[len(w):].lstrip(" ,，:：")
    return False, text


def _as_written(raw: str, parsed: str) -> str:
    """The reminder's text as the member wrote it ("停水通知，请储水"): the schedule parser works on NFKC text
    and hands back "停水通知,请储水". Where NFKC kept every character one for one, cut the same span."""
    normal = unicodedata.normalize("NFKC", raw)
    start = normal.find(parsed)
    if start < 0 or len(normal) != len(raw):
        return parsed
    return raw[start:start + len(parsed)]


def set_reminder(ctx: Context, args: str) -> list[Reply]:
    if not args:
        raise UsageError()
    sp = ctx.speaker
    to_group, rest = _strip_prefix(args, GROUP_WORDS)
    to_community, rest = _strip_prefix(rest, COMMUNITY_WORDS) if not to_group else (False, rest)
    to_staff = None
    for audience, words in STAFF_WORDS.items():
        if not (to_group or to_community or to_staff):
            found, rest = _strip_prefix(rest, words)
            to_staff = audience if found else None
    rest = re.sub(r"^我\s*", "", rest)  # "提醒我 明天…"
    if to_group:
        if sp.chat_grid_id is None:
            return [Reply(t("schedule.reminder.need_group"))]
        if not sp.can_act_in(sp.chat_grid_id):
            return [Reply(t("schedule.reminder.out_of_scope"))]
    if (to_community or to_staff) and not sp.is_leader:
        return [Reply(t("schedule.reminder.community_leaders_only"))]
    if (to_community or to_staff) and not covers_community(ctx.session, sp.community_id, sp.scope_grid_ids):
        return [Reply(t("schedule.reminder.community_not_yours"))]  # a level-2 leader: their own grids only
    tz = ctx.app.settings.timezone
    try:
        schedule = parse(rest, ctx.now, tz)
    except ScheduleError as err:
        raise UsageError("schedule.reminder.bad_time", detail=err.text) from None
    if not schedule.text:
        raise UsageError("schedule.reminder.need_text")
    text = _as_written(rest, schedule.text)
    if to_group:
        kw = {"target_type": "grids", "grid_ids": [sp.chat_grid_id]}
    elif to_community:
        kw = {"target_type": "community"}
    elif to_staff:
        kw = {"target_type": to_staff}
    else:
        kw = {"target_type": "member", "target_member_id": sp.member_id}
    reminder = service.create_reminder(ctx.session, community_id=sp.staff_community_id, owner_member_id=sp.member_id,
                                       created_by=sp.actor, schedule=schedule, text=text, now=ctx.now, **kw)
    target = service.describe_target(ctx.session, reminder, sp.member_id)
    nxt = service.fmt_when(reminder.next_at, tz, ctx.now)
    if reminder.rrule:
        text = t("schedule.reminder.created", id=reminder.id, target=target, label=schedule.label, next=nxt,
                 text=reminder.text)
    else:
        text = t("schedule.reminder.created_once", id=reminder.id, target=target, next=nxt, text=reminder.text)
    notes = [t(f"schedule.reminder.note_{n}") for n in NOTES if n in schedule.notes]
    quiet = load_config(ctx.app.settings.config_dir, ctx.app.settings.timezone).quiet
    upcoming = schedule.next(ctx.now, 1)
    if upcoming and quiet.hold_until(upcoming[0]) is not None:
        notes.append(t("schedule.reminder.note_quiet", start=quiet.start.strftime("%H:%M"),
                       end=quiet.end.strftime("%H:%M")))
    return [Reply(text + "".join(dict.fromkeys(notes)))]


def list_reminders(ctx: Context, args: str) -> list[Reply]:
    sp = ctx.speaker
    grids = set(sp.scope_grid_ids) if sp.is_leader else set(sp.grid_ids)  # leaders see their whole area
    rows = service.visible_reminders(ctx.session, sp.staff_member_id, grids)
    tz = ctx.app.settings.timezone
    if not rows:
        lines = [t("schedule.reminder.list_empty")]
    else:
        lines = [t("schedule.reminder.list_title", count=len(rows))]
        for r in rows:
            # a one-off's words ("明天 上午9点") were relative to the day it was set; its date is under 下次
            label = r.schedule_text if r.rrule else t("schedule.reminder.once_label")
            lines.append(t("schedule.reminder.list_line", id=r.id, label=label,
                           target=service.describe_target(ctx.session, r, sp.member_id), text=r.text,
                           next=service.fmt_when(r.next_at, tz, ctx.now)))
    builtin = service.builtin_count(ctx.session, sp.community_id) if sp.community_id else 0
    if builtin:
        lines.append(t("schedule.reminder.list_builtin", count=builtin))
    return [Reply("\n".join(lines))]


def cancel(ctx: Context, args: str) -> list[Reply]:
    number = parse_id(args)
    if number is None:
        raise UsageError("schedule.reminder.bad_id")
    sp = ctx.speaker
    r = service.cancel_reminder(ctx.session, number, actor=sp.actor, member_id=sp.member_id,
                                roles=sp.roles, scope_grid_ids=sp.scope_grid_ids, now=ctx.now)
    return [Reply(t("schedule.reminder.cancelled", id=r.id, text=r.text))]


def register(router: Router) -> None:
    router.command(Command("提醒", set_reminder, roles=STAFF, glued=True, group="work"))
    router.command(Command("提醒列表", list_reminders, roles=STAFF, aliases=("我的提醒",), group="work"))
    router.command(Command("取消提醒", cancel, roles=STAFF, glued=True, group="work"))

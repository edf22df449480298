"""Grid members' duties in chat: 签到/巡查, 签退, 走访, 转工单, 日志, 本周日志, 本月日志, 审核, 值班, 请假, 销假,
待走访.

Thin: read the arguments, check scope, call gridbot.services.work, answer. Lists with households' details go
privately to the member (Reply(to_user=...)) when asked in a group: they are personal data.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gridbot import periods
from gridbot.clock import local
from gridbot.handlers.numbers import parse_id
from gridbot.messages import Reply
from gridbot.models import Grid, Member
from gridbot.privacy import mask_text
from gridbot.router import LEADERS, STAFF, Command, Context, Router, UsageError
from gridbot.services import audit, compliance, tickets, work
from gridbot.texts import t
from gridbot.workcal import calendar_for

WEEKDAY_NAMES = "一二三四五六日"
LOG_LINE_CHARS = 60


# -- shared helpers ----------------------------------------------------------------------------------
def _tz(ctx: Context) -> ZoneInfo:
    return ctx.app.settings.tz


def _today(ctx: Context) -> date:
    return periods.local_day(ctx.now, _tz(ctx))


def _fmt_value(ctx: Context, value: Any) -> Any:
    if isinstance(value, datetime):
        at = local(value, _tz(ctx))
        return f"{at.month}月{at.day}日 {at:%H:%M}"
    if isinstance(value, date):
        return _day(value)
    return value


def _day(day: date) -> str:
    return f"{day.month}月{day.day}日（周{WEEKDAY_NAMES[day.weekday()]}）"


def _short_day(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _hm(ctx: Context, at: datetime) -> str:
    return local(at, _tz(ctx)).strftime("%H:%M")


def guarded(fn: Callable[[Context, str], list[Reply]]) -> Callable[[Context, str], list[Reply]]:
    """Mask phone numbers in the answer; audit a scope refusal (the router says it, like every refusal)."""

    @functools.wraps(fn)
    def wrapper(ctx: Context, args: str) -> list[Reply]:
        try:
            replies = fn(ctx, args)
        except work.OutOfScope as err:
            audit.record(ctx.session, ctx.speaker.actor, "command.out_of_scope", err.entity_type, err.entity_id,
                         {"command": fn.__name__, "chat_id": ctx.inbound.chat_id}, at=ctx.now)
            raise
        for reply in replies:      # members' free text (notes, logs, reasons) may hold a phone number
            reply.text = mask_text(reply.text)
        return replies

    return wrapper


def _privately(ctx: Context, text: str) -> list[Reply]:
    """Personal data: in a group, a short note there and the details in a private message."""
    if ctx.inbound.is_group:
        return [Reply(t("work.sent_privately")), Reply(text, to_user=ctx.speaker.user_id)]
    return [Reply(text)]


def _pick_grid(ctx: Context, word: str | None = None) -> Grid:
    sp = ctx.speaker
    return work.pick_grid(ctx.session, community_id=sp.community_id, own_grid_ids=sp.grid_ids,
                          scope_grid_ids=sp.scope_grid_ids, chat_grid_id=sp.chat_grid_id, word=word)


def _split_grid_word(ctx: Context, args: str) -> tuple[str | None, str]:
    """A leading grid code or name ("HY-02 3栋门口") and the rest."""
    head, _, rest = args.partition(" ")
    if head and work.find_grid(ctx.session, ctx.speaker.community_id, head) is not None:
        return head, rest.strip()
    return None, args


def _duration(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    return t("work.duration_hm", h=hours, m=mins) if hours else t("work.duration_m", m=mins)


# -- 签到 / 签退 ----------------------------------------------------------------------------------------
@guarded
def check_in(ctx: Context, args: str) -> list[Reply]:
    word, rest = _split_grid_word(ctx, args)
    loc = ctx.inbound.location
    located: dict[str, Any] | None = (
        {"latitude": loc.latitude, "longitude": loc.longitude, "label": loc.label} if loc else
        work.recent_location(ctx.session, ctx.inbound.platform, ctx.speaker.user_id, ctx.now))
    place, _, note = rest.partition(" ")
    if not place and located:
        place = located.get("label") or ""
    if not place and word:
        place = word                       # "签到 第一网格": the grid is the place named
    if not place and not located:
        raise UsageError("work.checkin_need_place")
    grid = _pick_grid(ctx, word)
    patrol = work.check_in(ctx.session, member_id=ctx.speaker.staff_member_id, grid_id=grid.id, now=ctx.now,
                           actor=ctx.speaker.actor, place=place or None,
                           latitude=located["latitude"] if located else None,
                           longitude=located["longitude"] if located else None, note=note.strip() or None)
    where = t("work.checkin_place", place=patrol.place) if patrol.place else t("work.checkin_located")
    return [Reply(t("work.checkin_done", grid=grid.name, time=_fmt_value(ctx, patrol.started_at), where=where))]


@guarded
def check_out(ctx: Context, args: str) -> list[Reply]:
    # WeCom's LOCATION events stay in the inbound log: one reported during a text-only patrol locates it.
    now = ctx.now
    member_id = ctx.speaker.staff_member_id
    located = work.recent_location(ctx.session, ctx.inbound.platform, ctx.speaker.user_id, now)
    if located:
        work.attach_location(ctx.session, member_id=member_id, now=now,
                             latitude=located["latitude"], longitude=located["longitude"],
                             label=located.get("label"))
    patrol = work.check_out(ctx.session, member_id=member_id, now=now, actor=ctx.speaker.actor, note=args or None)
    minutes = int((now - patrol.started_at).total_seconds() // 60)  # check_out ended the patrol at `now`
    return [Reply(t("work.checkout_done", grid=patrol.grid.name, length=_duration(minutes),
                    start=_hm(ctx, patrol.started_at), end=_hm(ctx, now)))]


def _is_location_message(ctx: Context) -> bool:
    return ctx.inbound.kind == "location" and ctx.inbound.location is not None and ctx.speaker.is_member


def _location_check_in(ctx: Context, _match: object) -> list[Reply]:
    return check_in(ctx, "")


# -- 走访 / 转工单 --------------------------------------------------------------------------------------
@guarded
def visit(ctx: Context, args: str) -> list[Reply]:
    if not args:
        raise UsageError()
    address, note = work.split_address(args)
    if address is None or not address.building:
        raise UsageError("work.visit_need_address")
    sp = ctx.speaker
    household = work.find_household(ctx.session, community_id=sp.community_id, scope_grid_ids=sp.scope_grid_ids,
                                     address=address, prefer_grid_id=sp.chat_grid_id)
    notes = work.read_visit_notes(note)
    known = set(household.tags or [])
    record = work.record_visit(ctx.session, member_id=sp.staff_member_id, household=household, now=ctx.now,
                               actor=sp.actor, note=note, notes=notes)
    lines = [t("work.visit_done", id=record.id, grid=household.grid.name, address=household.address)]
    if notes.tags:  # say the ledger changed only when it did
        new = [tag for tag in notes.tags if tag not in known]
        lines.append(t("work.visit_tags", tags="、".join(notes.tags)) if new else
                     t("work.visit_tags_known", tags="、".join(notes.tags)))
    if notes.invited:
        lines.append(t("work.visit_invited"))
    if notes.follow_up:
        lines.append(t("work.visit_follow_up", need=notes.follow_up, id=record.id))
    return _privately(ctx, "\n".join(lines))


@guarded
def to_ticket(ctx: Context, args: str) -> list[Reply]:
    visit_id = parse_id(args) if args.strip() else None
    if args.strip() and visit_id is None:
        raise UsageError("work.ticket_bad_id")
    sp = ctx.speaker
    record = work.visit_for_ticket(ctx.session, member_id=sp.staff_member_id, scope_grid_ids=sp.scope_grid_ids,
                                   visit_id=visit_id)
    ticket = work.ticket_for_visit(ctx.session, tickets.policy_for(ctx.app), record,
                                   platform=ctx.inbound.platform, user_id=sp.user_id, name=sp.name, actor=sp.actor,
                                   now=ctx.now)
    return [Reply(t("work.ticket_done", id=record.id, number=ticket.number, need=record.follow_up))]


# -- 日志 / 本周日志 / 本月日志 / 审核 ------------------------------------------------------------------
@guarded
def log_entry(ctx: Context, args: str) -> list[Reply]:
    if not args:
        raise UsageError("work.log_need_text")
    member_id = ctx.speaker.staff_member_id
    entry = work.add_log(ctx.session, member_id=member_id, now=ctx.now, text=args, tz=_tz(ctx))
    today = work.logs_between(ctx.session, member_id, entry.day, entry.day + timedelta(days=1))
    return [Reply(t("work.log_done", day=_day(entry.day), n=len(today)))]


def _target_member(ctx: Context, word: str) -> Member:
    """The member a leader asks about; members may only ask about themselves."""
    sp = ctx.speaker
    member = work.find_member(ctx.session, sp.community_id, word)
    if member is None:
        raise work.WorkError("member_unknown", word=word)
    if member.id != sp.member_id and (not sp.is_leader or not work.member_in_scope(member, sp.scope_grid_ids)):
        raise work.OutOfScope("member_out_of_scope", "member", member.userid, name=member.name)
    return member


def _log_summary(ctx: Context, args: str, word: str) -> list[Reply]:
    sp = ctx.speaker
    member_id, name = sp.staff_member_id, sp.name
    if args:
        member = _target_member(ctx, args)
        member_id, name = member.id, member.name
    period = periods.parse_period(word, _today(ctx))
    start, end, label = period.start, period.end, period.said
    entries = work.logs_between(ctx.session, member_id, start, end)
    if not entries:
        return [Reply(t("work.logs_none", name=name, period=label, start=_short_day(start),
                        end=_short_day(end - timedelta(days=1))))]
    days = sorted({e.day for e in entries})
    reviewed = sum(1 for e in entries if e.reviewed_at is not None)
    lines = [t("work.logs_title", name=name, period=label, start=_short_day(start),
               end=_short_day(end - timedelta(days=1)), entries=len(entries), days=len(days), reviewed=reviewed)]
    for day in days:
        texts = [e.text if len(e.text) <= LOG_LINE_CHARS else e.text[:LOG_LINE_CHARS] + "…"
                 for e in entries if e.day == day]
        lines.append(t("work.logs_day", day=_day(day), text="；".join(texts)))
    comments = [e.review_comment for e in entries if e.review_comment]
    if comments:
        lines.append(t("work.logs_comment", comment=comments[-1]))
    return _privately(ctx, "\n".join(lines))      # logs may name households: not for a resident group


@guarded
def week_logs(ctx: Context, args: str) -> list[Reply]:
    return _log_summary(ctx, args, "本周")


@guarded
def month_logs(ctx: Context, args: str) -> list[Reply]:
    return _log_summary(ctx, args, "本月")


@guarded
def review(ctx: Context, args: str) -> list[Reply]:
    sp = ctx.speaker
    words = args.split(" ") if args else []
    if not words:
        today = _today(ctx)
        start, end = periods.add_months(today, -1), today + timedelta(days=1)
        pending = work.pending_reviews(ctx.session, community_id=sp.community_id, scope_grid_ids=sp.scope_grid_ids,
                                       start=start, end=end)
        if not pending:
            return [Reply(t("work.review_nothing"))]
        lines = [t("work.review_pending_title")]
        lines += [t("work.review_pending_line", name=m.name, n=n) for m, n in pending]
        lines.append(t("work.review_pending_hint", name=pending[0][0].name))
        return _privately(ctx, "\n".join(lines))    # a member's review is not the residents' business
    # "审核 张敏 本周 很好" or, as people type it, "审核：张敏，本周，很好，继续保持"
    said = re.match(r"^([^\s，,：:]+)[\s，,：:]*(.*)$", args)
    if said is None:    # nothing but separators
        raise UsageError()
    name, rest = said.groups()
    member = _target_member(ctx, name)
    if member.id == sp.member_id:
        raise work.WorkError("review_self")
    period, rest = periods.split_period(rest, _today(ctx), units=("week", "month"))
    period = period or periods.parse_period("本月", _today(ctx))
    comment = rest.lstrip(" ，,：:").strip() or None
    start, end, label = period.start, period.end, period.said
    count = work.review_logs(ctx.session, reviewer_id=sp.staff_member_id, member_id=member.id, start=start,
                             end=end, now=ctx.now, actor=sp.actor, comment=comment)
    if count == 0:
        return [Reply(t("work.review_none", name=member.name, period=label))]
    replies = _privately(ctx, t("work.review_done", name=member.name, period=label, n=count,
                                comment=t("work.review_comment", comment=comment) if comment else ""))
    if member.userid != sp.user_id:
        replies.append(Reply(t("work.review_notice", reviewer=sp.name, period=label, n=count,
                               comment=t("work.review_comment", comment=comment) if comment else ""),
                             to_user=member.userid))
    return replies


# -- 值班 / 请假 / 销假 ---------------------------------------------------------------------------------
_ROLE_KEYS = ("secretary", "grid_leader", "member", "part_time", "group_leader", "building_leader")


def _role_name(roles: list[str] | None) -> str:
    for key in _ROLE_KEYS:
        if key in (roles or []):
            return t(f"work.role.{key}")
    return t("work.role.staff")


@guarded
def duty(ctx: Context, args: str) -> list[Reply]:
    sp = ctx.speaker
    if args:
        grids = [_pick_grid(ctx, args.split(" ")[0])]
    elif sp.chat_grid_id is not None and sp.can_act_in(sp.chat_grid_id):
        grids = [_pick_grid(ctx)]
    else:
        grids = work.work_grids(ctx.session, sp.grid_ids) or work.work_grids(ctx.session, sp.scope_grid_ids)
    today = _today(ctx)
    blocks = []
    for grid in grids:
        lines = [t("work.duty_title", grid=grid.name, day=_day(today))]
        for entry in work.duty_roster(ctx.session, grid.id, ctx.now):
            m = entry.member
            if entry.leave is not None:
                until = periods.local_day(entry.leave.ends_at - timedelta(seconds=1), _tz(ctx))
                cover = entry.leave.partner.name if entry.leave.partner else t("work.duty_nobody")
                lines.append(t("work.duty_away", name=m.name, until=_day(until), cover=cover))
            elif not m.on_duty:  # marked 不在岗 in the roster: not someone residents or the leader can count on
                lines.append(t("work.duty_off", name=m.name, role=_role_name(m.roles)))
            elif entry.covering_for:
                lines.append(t("work.duty_covering", name=m.name, role=_role_name(m.roles),
                               others="、".join(o.name for o in entry.covering_for)))
            else:
                lines.append(t("work.duty_line", name=m.name, role=_role_name(m.roles)))
        if len(lines) == 1:
            lines.append(t("work.duty_empty"))
        blocks.append("\n".join(lines))
    return [Reply("\n\n".join(blocks))]


@guarded
def leave(ctx: Context, args: str) -> list[Reply]:
    if not args:
        raise UsageError()
    today = _today(ctx)
    parsed = work.parse_until(args, today)
    if parsed is None:
        raise UsageError("work.leave_bad_until")
    last_day, reason = parsed
    member = work.get_member(ctx.session, ctx.speaker.staff_member_id)
    record = work.request_leave(ctx.session, member=member, now=ctx.now, last_day=last_day, actor=ctx.speaker.actor,
                                reason=reason or None, tz=_tz(ctx))
    if record.partner is None:  # nobody covers: the tickets stay, the grid leader arranges it
        pending = work.open_ticket_numbers(ctx.session, member.id)
        numbers = "、".join(pending[:5]) + ("…" if len(pending) > 5 else "")
        text = t("work.leave_done_no_partner", start=_short_day(today), until=_day(last_day))
        if pending:
            text += t("work.leave_open_tickets_leader", count=len(pending), numbers=numbers)
        return [Reply(text)]
    moved = work.handed_over(ctx.session, record)   # the open tickets went to the partner with the leave
    grids = "、".join(g.name for g in member.grids)
    text = t("work.leave_done", start=_short_day(today), until=_day(last_day), partner=record.partner.name)
    notice = t("work.leave_notice", name=member.name, until=_day(last_day), grids=grids,
               reason=t("work.leave_reason", reason=reason) if reason else "")
    if moved:
        numbers = "、".join(moved)
        text += t("work.leave_tickets_moved", count=len(moved), numbers=numbers, partner=record.partner.name)
        notice += t("work.leave_tickets_moved_notice", name=member.name, count=len(moved), numbers=numbers)
    return [Reply(text), Reply(notice, to_user=record.partner.userid)]


@guarded
def end_leave(ctx: Context, args: str) -> list[Reply]:
    record = work.cancel_leave(ctx.session, member_id=ctx.speaker.staff_member_id, now=ctx.now,
                               actor=ctx.speaker.actor)
    back = work.returned(ctx.session, record)
    text = t("work.leave_ended")
    if back:
        text += t("work.leave_tickets_back", count=len(back), numbers="、".join(back))
    replies = [Reply(text)]
    if record.partner is not None:
        notice = t("work.leave_ended_notice", name=ctx.speaker.name)
        if back:
            notice += t("work.leave_tickets_back_notice", name=ctx.speaker.name, count=len(back),
                        numbers="、".join(back))
        replies.append(Reply(notice, to_user=record.partner.userid))
    return replies


_BUILDING = re.compile(r"^(\d+)(?:栋|号楼|幢)$")


# -- 待走访 --------------------------------------------------------------------------------------------
@guarded
def due(ctx: Context, args: str) -> list[Reply]:
    sp = ctx.speaker
    word = args.split(" ")[0] if args else ""
    building = _BUILDING.match(word)   # "待走访 3栋": one building of the member's grids
    grids = [_pick_grid(ctx, word)] if word and not building else work.work_grids(ctx.session, sp.grid_ids)
    text, _ = work.due_visits_text(ctx.session, member_id=sp.staff_member_id, grids=grids, now=ctx.now,
                                   tz=_tz(ctx), building=building.group(1) if building else None)
    return _privately(ctx, text)


# -- 履职 ---------------------------------------------------------------------------------------------
@guarded
def figures(ctx: Context, args: str) -> list[Reply]:
    word = args.split(" ")[0] if args else "本月"
    try:
        period = periods.parse_period(word, _today(ctx))
    except periods.PeriodError:
        raise UsageError("work.figures_bad_period") from None
    sp = ctx.speaker
    lines = compliance.for_speaker(ctx.session, community_id=sp.staff_community_id,
                                   scope_grid_ids=set(sp.scope_grid_ids), member_id=sp.staff_member_id,
                                   period=period, tz=_tz(ctx), today=_today(ctx),
                                   calendar=calendar_for(ctx.app.settings.config_dir, _tz(ctx)))
    return _privately(ctx, "\n".join(lines))


def register(router: Router) -> None:
    router.command(Command("签到", check_in, roles=STAFF, aliases=("巡查", "巡查签到"), glued=True, group="work"))
    router.command(Command("签退", check_out, roles=STAFF, aliases=("巡查结束",), glued=True, group="work"))
    router.command(Command("走访", visit, roles=STAFF, aliases=("入户走访",), glued=True, group="work"))
    router.command(Command("转工单", to_ticket, roles=STAFF, glued=True, group="work"))
    router.command(Command("日志", log_entry, roles=STAFF, aliases=("工作日志",), glued=True, group="work"))
    router.command(Command("本周日志", week_logs, roles=STAFF, glued=True, group="work"))
    router.command(Command("本月日志", month_logs, roles=STAFF, glued=True, group="work"))
    router.command(Command("审核", review, roles=LEADERS, aliases=("审核日志",), glued=True, group="work"))
    router.command(Command("值班", duty, roles=STAFF, aliases=("今日值班", "谁值班"), glued=True, group="work"))
    router.command(Command("请假", leave, roles=STAFF, glued=True, group="work"))
    router.command(Command("销假", end_leave, roles=STAFF, group="work"))
    router.command(Command("待走访", due, roles=STAFF, glued=True, group="work"))
    router.command(Command("履职", figures, roles=LEADERS, aliases=("履职统计", "考核统计"), glued=True, group="work"))
    router.rule("work.location_checkin", _is_location_message, _location_check_in)
